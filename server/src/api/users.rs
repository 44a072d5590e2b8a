//! `/hub/api/user` and `/hub/api/users/{name}`.

use app::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use hub::domain::UserName;
use hub::scopes::{Resource, Scope};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::error::ApiError;
use super::models::user_model;

/// Who am I, with the scopes of this request's credentials.
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let mut model = user_model(&state.hub, &caller.user, false).await?;
    model["scopes"] = caller.scopes.to_strings().into();
    model["token_id"] =
        caller.token.as_ref().map(|t| Value::from(format!("a{}", t.id))).unwrap_or(Value::Null);
    model["session_id"] = Value::Null;
    Ok(Json(model))
}

#[derive(Deserialize)]
pub struct GetUserQuery {
    #[serde(default)]
    include_stopped_servers: Option<String>,
}

/// Resolves a user named in a path, answering 404 alike for invalid and unknown names.
pub async fn path_user(state: &AppState, raw: &str) -> Result<hub::accounts::User, ApiError> {
    let name = UserName::parse(raw).map_err(|_| ApiError::not_found(format!("No such user: {raw}")))?;
    hub::accounts::find(state.hub.db(), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No such user: {name}")))
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<GetUserQuery>,
) -> Result<Json<Value>, ApiError> {
    let groups = match UserName::parse(&name) {
        Ok(n) => match hub::accounts::find(state.hub.db(), &n).await? {
            Some(u) => hub::db::groups_of(state.hub.db(), u.id).await.map_err(ApiError::internal)?,
            None => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    caller.require(Scope::ReadUsers, Resource::User { name: &name, groups: &groups })?;
    let user = path_user(&state, &name).await?;
    let include_stopped = query.include_stopped_servers.is_some();
    Ok(Json(user_model(&state.hub, &user, include_stopped).await?))
}
