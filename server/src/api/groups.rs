//! `/hub/api/groups`, `/hub/api/groups/{name}`, `/users`, `/properties`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use hub::domain::{GroupName, UserName};
use hub::groups::{self, Group};
use hub::scopes::{Access, Resource, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiQuery};
use super::pagination::{public_base, Page};

fn model(g: &Group) -> Value {
    json!({ "kind": "group", "name": g.name, "users": g.members, "properties": g.properties, "roles": [] })
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
    headers: HeaderMap,
    uri: Uri,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let unfiltered = caller.scopes.check(Scope::ListGroups, Resource::Hub) == Access::Allowed;
    if !unfiltered && !caller.scopes.has_any(Scope::ListGroups) {
        caller.require(Scope::ListGroups, Resource::Hub)?;
    }
    let page = Page::from_request(q.offset, q.limit, &headers)?;
    let (window, total) = if unfiltered {
        let total = groups::count(&state.hub).await?;
        (groups::list(&state.hub, page.offset, page.limit).await?, total)
    } else {
        // Filtered list:groups: page through the groups the filters name.
        let visible: Vec<Group> = groups::list(&state.hub, 0, i64::MAX)
            .await?
            .into_iter()
            .filter(|g| {
                caller.scopes.check(Scope::ListGroups, Resource::Group { name: &g.name }) == Access::Allowed
            })
            .collect();
        let total = visible.len() as i64;
        (visible.into_iter().skip(page.offset as usize).take(page.limit as usize).collect(), total)
    };
    let items = window.iter().map(model).collect();
    Ok(Json(page.respond(items, total, &public_base(state.hub.config(), &headers), &uri)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadGroups, Resource::Group { name: &name })?;
    Ok(Json(model(&groups::find(&state.hub, &name).await?)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Members {
    #[serde(default)]
    users: Vec<String>,
}

/// The users a request names; a name that is invalid or unknown fails the whole request.
pub async fn resolve_users(state: &AppState, names: &[String]) -> Result<Vec<hub::accounts::User>, ApiError> {
    let mut out = Vec::new();
    for raw in names {
        let name = UserName::parse(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid user name {raw:?}: {e}")))?;
        let user = hub::users::find(&state.hub, &name)
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
    let name = GroupName::parse(&name)
        .map_err(|e| ApiError::bad_request(format!("invalid group name {name:?}: {e}")))?;
    let users = resolve_users(&state, &body.users).await?;
    let group = groups::create(&state.hub, Some(caller.actor()), &name, &users).await?;
    Ok((StatusCode::CREATED, Json(model(&group))))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::DeleteGroups, Resource::Group { name: &name })?;
    groups::delete(&state.hub, Some(caller.actor()), &name).await?;
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
    groups::find(&state.hub, name).await?;
    let users = resolve_users(state, users).await?;
    let group = groups::change_members(&state.hub, Some(caller.actor()), name, &users, add).await?;
    Ok(Json(model(&group)))
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
    let group = groups::set_properties(&state.hub, Some(caller.actor()), &name, &body).await?;
    Ok(Json(model(&group)))
}
