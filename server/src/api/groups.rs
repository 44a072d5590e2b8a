//! `/hub/api/groups`, `/hub/api/groups/{name}`, `/users`, `/properties`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hub::db::groups::{self, GroupRow};
use hub::domain::UserName;
use hub::scopes::{Access, Resource, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiQuery};

const MAX_NAME: usize = 255;

fn valid_group_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid group name {name:?}: use 1-255 of letters, digits, '-', '_', '.', '@'"
        )))
    }
}

async fn model(state: &AppState, g: &GroupRow) -> Result<Value, ApiError> {
    let users = groups::members(state.hub.db(), g.id).await.map_err(ApiError::internal)?;
    let properties: Value = serde_json::from_str(&g.properties).unwrap_or_else(|_| json!({}));
    Ok(json!({ "kind": "group", "name": g.name, "users": users, "properties": properties, "roles": [] }))
}

async fn find(state: &AppState, name: &str) -> Result<GroupRow, ApiError> {
    groups::by_name(state.hub.db(), name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("No such group: {name}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    offset: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if !caller.scopes.has_any(Scope::ListGroups) {
        caller.require(Scope::ListGroups, Resource::Hub)?;
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let mut out = Vec::new();
    for g in groups::list(state.hub.db(), offset, limit).await.map_err(ApiError::internal)? {
        if caller.scopes.check(Scope::ListGroups, Resource::Group { name: &g.name }) == Access::Allowed {
            out.push(model(&state, &g).await?);
        }
    }
    Ok(Json(Value::Array(out)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadGroups, Resource::Group { name: &name })?;
    let g = find(&state, &name).await?;
    Ok(Json(model(&state, &g).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Members {
    #[serde(default)]
    users: Vec<String>,
}

async fn resolve_users(state: &AppState, names: &[String]) -> Result<Vec<hub::accounts::User>, ApiError> {
    let mut out = Vec::new();
    for raw in names {
        let name = UserName::parse(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid user name {raw:?}: {e}")))?;
        let user = hub::accounts::find(state.hub.db(), &name)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("No such user: {name}")))?;
        out.push(user);
    }
    Ok(out)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Members>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::AdminGroups, Resource::Hub)?;
    valid_group_name(&name)?;
    let users = resolve_users(&state, &body.users).await?;
    let g = groups::insert(state.hub.db(), &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, format!("Group {name} already exists")))?;
    for u in users {
        groups::add_member(state.hub.db(), g.id, u.id).await.map_err(ApiError::internal)?;
    }
    let _ = hub::db::events::record(
        state.hub.db(),
        Some(caller.user.name.as_str()),
        "group.create",
        Some(&name),
        json!({}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(model(&state, &g).await?)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::DeleteGroups, Resource::Group { name: &name })?;
    let g = find(&state, &name).await?;
    groups::delete(state.hub.db(), g.id).await.map_err(ApiError::internal)?;
    let _ = hub::db::events::record(
        state.hub.db(),
        Some(caller.user.name.as_str()),
        "group.delete",
        Some(&name),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds or removes members, then answers the group.
async fn change_members(
    state: &AppState,
    caller: &Caller,
    name: &str,
    users: &[String],
    add: bool,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Groups, Resource::Group { name })?;
    let g = find(state, name).await?;
    for u in resolve_users(state, users).await? {
        let done = if add {
            groups::add_member(state.hub.db(), g.id, u.id).await
        } else {
            groups::remove_member(state.hub.db(), g.id, u.id).await
        };
        done.map_err(ApiError::internal)?;
    }
    Ok(Json(model(state, &g).await?))
}

pub async fn add_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Members>,
) -> Result<Json<Value>, ApiError> {
    change_members(&state, &caller, &name, &body.users, true).await
}

pub async fn remove_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Members>,
) -> Result<Json<Value>, ApiError> {
    change_members(&state, &caller, &name, &body.users, false).await
}

pub async fn set_properties(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Groups, Resource::Group { name: &name })?;
    if !body.is_object() {
        return Err(ApiError::bad_request("properties must be a JSON object"));
    }
    let g = find(&state, &name).await?;
    groups::set_properties(state.hub.db(), g.id, &body.to_string()).await.map_err(ApiError::internal)?;
    let g = find(&state, &name).await?;
    Ok(Json(model(&state, &g).await?))
}
