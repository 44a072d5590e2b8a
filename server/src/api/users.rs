//! `/hub/api/user`, `/hub/api/users`, `/hub/api/users/{name}` and `/activity`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use hub::accounts::{self, NewAccount, User};
use hub::db::users::{PageQuery, SortKey, StateFilter};
use hub::domain::UserName;
use hub::scopes::{Access, Resource, Scope};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiQuery};
use super::models::{user_model, user_model_of};
use super::pagination::{public_base, Page};

/// Who am I, with the scopes of this request's credentials.
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let mut model = user_model(&state.hub, &caller.user, false).await?;
    model["scopes"] = caller.scopes.to_strings().into();
    model["token_id"] =
        caller.token.as_ref().map(|t| Value::from(format!("a{}", t.id))).unwrap_or(Value::Null);
    model["session_id"] = Value::Null;
    Ok(Json(model))
}

/// Resolves a user named in a path, answering 404 alike for invalid and unknown names.
pub async fn path_user(state: &AppState, raw: &str) -> Result<User, ApiError> {
    let name = UserName::parse(raw).map_err(|_| ApiError::not_found(format!("No such user: {raw}")))?;
    accounts::find(state.hub.db(), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No such user: {name}")))
}

/// The user a path names (`None` when the name is invalid or unknown) and their groups: one
/// lookup serves both the scope check (group filters) and the handler.
pub async fn lookup(state: &AppState, raw: &str) -> Result<(Option<User>, Vec<String>), ApiError> {
    let Ok(name) = UserName::parse(raw) else { return Ok((None, Vec::new())) };
    match accounts::find(state.hub.db(), &name).await? {
        Some(u) => {
            let groups = hub::db::groups_of(state.hub.db(), u.id).await.map_err(ApiError::internal)?;
            Ok((Some(u), groups))
        }
        None => Ok((None, Vec::new())),
    }
}

/// The looked-up user, or 404 alike for invalid and unknown names.
pub fn existing(found: Option<User>, raw: &str) -> Result<User, ApiError> {
    found.ok_or_else(|| ApiError::not_found(format!("No such user: {raw}")))
}

/// `?flag`, `?flag=1`, `?flag=true` are true; absent, `0`, `false` are false.
fn flag(value: &Option<String>) -> bool {
    match value.as_deref() {
        None => false,
        Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUserQuery {
    #[serde(default)]
    include_stopped_servers: Option<String>,
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<GetUserQuery>,
) -> Result<Json<Value>, ApiError> {
    let (found, groups) = lookup(&state, &name).await?;
    caller.require(Scope::ReadUsers, Resource::User { name: &name, groups: &groups })?;
    let user = existing(found, &name)?;
    Ok(Json(user_model(&state.hub, &user, flag(&query.include_stopped_servers)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
    sort: Option<String>,
    include_stopped_servers: Option<String>,
    name_filter: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let unfiltered = caller.scopes.check(Scope::ListUsers, Resource::Hub) == Access::Allowed;
    if !unfiltered && !caller.scopes.has_any(Scope::ListUsers) {
        caller.require(Scope::ListUsers, Resource::Hub)?;
    }
    let state_filter = match q.state.as_deref() {
        None | Some("") => StateFilter::Any,
        Some("active") => StateFilter::Active,
        Some("ready") => StateFilter::Ready,
        Some("inactive") => StateFilter::Inactive,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid state {other:?}: use active, ready or inactive"
            )))
        }
    };
    let (sort, descending) = match q.sort.as_deref().unwrap_or("id") {
        "id" => (SortKey::Id, false),
        "-id" => (SortKey::Id, true),
        "name" => (SortKey::Name, false),
        "-name" => (SortKey::Name, true),
        "last_activity" => (SortKey::LastActivity, false),
        "-last_activity" => (SortKey::LastActivity, true),
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid sort {other:?}: use id, name or last_activity, with - for descending"
            )))
        }
    };
    let page = Page::from_request(q.offset, q.limit, &headers)?;
    let (offset, limit) = (page.offset, page.limit);
    let include_stopped = flag(&q.include_stopped_servers);
    let name_filter = q.name_filter.filter(|f| !f.is_empty());

    // A filtered list:users (`!user=`, `!group=`) is one more condition of the same query.
    let visible = if unfiltered { None } else { caller.scopes.user_filters(Scope::ListUsers) };
    let query = PageQuery { state: state_filter, sort, descending, name_filter, visible, offset, limit };
    let (users, total) = accounts::page(state.hub.db(), &query).await?;
    // Two queries for the whole page's servers and groups, not two per user.
    let mut details = hub::servers::page_details(&state.hub, &users).await?;
    let items: Vec<Value> = users
        .iter()
        .map(|u| {
            let (servers, groups) = details.remove(&u.id).unwrap_or_default();
            user_model_of(u, &servers, groups, include_stopped)
        })
        .collect();
    Ok(Json(page.respond(items, total, &public_base(state.hub.config(), &headers), &uri)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewUsers {
    usernames: Vec<String>,
    #[serde(default)]
    admin: bool,
}

/// `POST /users`: several at once; all names are checked before any is created.
pub async fn create_many(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUsers>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::AdminUsers, Resource::Hub)?;
    if body.usernames.is_empty() {
        return Err(ApiError::bad_request("usernames must name at least one user"));
    }
    let mut names = Vec::new();
    for raw in &body.usernames {
        let name = UserName::parse(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid user name {raw:?}: {e}")))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut fresh = Vec::new();
    for name in &names {
        if accounts::find(state.hub.db(), name).await?.is_none() {
            fresh.push(name.clone());
        }
    }
    if fresh.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "All those users already exist"));
    }
    let mut out = Vec::new();
    for name in &fresh {
        let user = accounts::create_user(
            state.hub.db(),
            Some(caller.user.name.as_str()),
            NewAccount { name, password: None, is_admin: body.admin, approved: true },
        )
        .await?;
        out.push(user_model(&state.hub, &user, false).await?);
    }
    Ok((StatusCode::CREATED, Json(Value::Array(out))))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[serde(default)]
    admin: bool,
}

/// `POST /users/{name}`.
pub async fn create_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::AdminUsers, Resource::Hub)?;
    let name = UserName::parse(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid user name {raw:?}: {e}")))?;
    let user = accounts::create_user(
        state.hub.db(),
        Some(caller.user.name.as_str()),
        NewAccount { name: &name, password: None, is_admin: body.admin, approved: true },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user_model(&state.hub, &user, false).await?)))
}

/// `DELETE /users/{name}`: their servers are stopped first; their home volume stays.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (found, groups) = lookup(&state, &raw).await?;
    caller.require(Scope::DeleteUsers, Resource::User { name: &raw, groups: &groups })?;
    let user = existing(found, &raw)?;
    hub::users::delete(&state.hub, Some(caller.user.name.as_str()), &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    name: Option<String>,
    admin: Option<bool>,
}

/// `PATCH /users/{name}`: rename and/or change the admin flag.
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<Value>, ApiError> {
    let (found, groups) = lookup(&state, &raw).await?;
    caller.require(Scope::AdminUsers, Resource::User { name: &raw, groups: &groups })?;
    let mut user = existing(found, &raw)?;
    let actor = Some(caller.user.name.as_str());
    let new_name = match body.name {
        Some(new) => Some(
            UserName::parse(&new)
                .map_err(|e| ApiError::bad_request(format!("invalid user name {new:?}: {e}")))?,
        ),
        None => None,
    };
    // The admin flag first, while the caller's name still says whether this is themselves.
    if let Some(admin) = body.admin {
        hub::users::set_admin(&state.hub, actor, &user, admin).await?;
    }
    if let Some(new) = new_name {
        hub::users::rename(&state.hub, actor, &user, &new).await?;
    }
    user = accounts::find_by_id(state.hub.db(), user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user"))?;
    Ok(Json(user_model(&state.hub, &user, false).await?))
}

#[derive(Deserialize, Default)]
pub struct Activity {
    last_activity: Option<String>,
}

/// `POST /users/{name}/activity`: a server reports activity.
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Activity>,
) -> Result<StatusCode, ApiError> {
    let (found, groups) = lookup(&state, &raw).await?;
    caller.require(Scope::UsersActivity, Resource::User { name: &raw, groups: &groups })?;
    let user = existing(found, &raw)?;
    let at = match body.last_activity {
        None => hub::db::now_ms(),
        Some(text) => {
            let t = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| ApiError::bad_request(format!("last_activity must be an ISO 8601 time: {e}")))?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
        }
    };
    hub::db::users::set_last_activity(state.hub.db(), user.id, at).await.map_err(ApiError::internal)?;
    Ok(StatusCode::OK)
}
