//! `/hub/api/user`, `/hub/api/users`, `/hub/api/users/{name}` and `/activity`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use hub::accounts::User;
use hub::domain::UserName;
use hub::scopes::{Access, Resource, Scope};
use hub::users::{StateFilter, UserOrder, UserQuery};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Caller, Holder};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::models::{user_model, user_model_of};
use super::pagination::{public_base, Page};

/// Who am I, with the scopes of this request's credentials.
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let user = match &caller.who {
        Holder::User(user) => user,
        Holder::Service(service) => {
            let mut model = super::services::full(service);
            model["scopes"] = caller.scopes.to_strings().into();
            return Ok(Json(model));
        }
    };
    let mut model = user_model(&state.hub, user, false).await?;
    model["scopes"] = caller.scopes.to_strings().into();
    model["token_id"] =
        caller.token.as_ref().map(|t| Value::from(format!("a{}", t.id))).unwrap_or(Value::Null);
    model["session_id"] = Value::Null;
    Ok(Json(model))
}

/// Resolves a user named in a path, answering 404 alike for invalid and unknown names.
pub async fn path_user(state: &AppState, raw: &str) -> Result<User, ApiError> {
    let name = UserName::parse(raw).map_err(|_| ApiError::not_found(format!("No such user: {raw}")))?;
    hub::users::find(&state.hub, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No such user: {name}")))
}

/// The user a path names (`None` when the name is invalid or unknown) and their groups: one
/// lookup serves both the scope check (group filters) and the handler.
pub async fn lookup(state: &AppState, raw: &str) -> Result<(Option<User>, Vec<String>), ApiError> {
    let Ok(name) = UserName::parse(raw) else { return Ok((None, Vec::new())) };
    match hub::users::find(&state.hub, &name).await? {
        Some(u) => {
            let groups = hub::users::groups_of(&state.hub, u.id).await?;
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
    let servers = hub::servers::list(&state.hub, &user).await?;
    Ok(Json(user_model_of(&user, &servers, groups, flag(&query.include_stopped_servers))))
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
    let state_filter: StateFilter = q.state.as_deref().unwrap_or_default().parse()?;
    let order: UserOrder = q.sort.as_deref().unwrap_or("id").parse()?;
    let page = Page::from_request(q.offset, q.limit, &headers)?;
    let include_stopped = flag(&q.include_stopped_servers);
    // A filtered list:users (`!user=`, `!group=`) is one more condition of the same query.
    let visible = if unfiltered { None } else { caller.scopes.user_filters(Scope::ListUsers) };
    let query = UserQuery {
        state: state_filter,
        order,
        name_filter: q.name_filter,
        visible,
        offset: page.offset,
        limit: page.limit,
    };
    let (listed, total) = hub::users::list(&state.hub, &query).await?;
    let items: Vec<Value> =
        listed.into_iter().map(|l| user_model_of(&l.user, &l.servers, l.groups, include_stopped)).collect();
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
    let names = body.usernames.iter().map(|raw| user_name(raw)).collect::<Result<Vec<_>, _>>()?;
    let done = hub::users::add(&state.hub, Some(caller.actor()), &names, body.admin).await?;
    let mut out = Vec::with_capacity(done.added.len());
    for user in &done.added {
        out.push(user_model(&state.hub, user, false).await?);
    }
    Ok((StatusCode::CREATED, Json(Value::Array(out))))
}

fn user_name(raw: &str) -> Result<UserName, ApiError> {
    UserName::parse(raw).map_err(|e| ApiError::bad_request(format!("invalid user name {raw:?}: {e}")))
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
    let name = user_name(&raw)?;
    let actor = Some(caller.actor());
    let done = hub::users::add(&state.hub, actor, std::slice::from_ref(&name), body.admin).await?;
    let user = done.added.first().ok_or_else(|| ApiError::internal("user added but not returned"))?;
    Ok((StatusCode::CREATED, Json(user_model(&state.hub, user, false).await?)))
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
    hub::users::delete(&state.hub, Some(caller.actor()), &user).await?;
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
    let actor = Some(caller.actor());
    let new_name = match body.name {
        Some(new) => Some(user_name(&new)?),
        None => None,
    };
    // The admin flag first, while the caller's name still says whether this is themselves.
    if let Some(admin) = body.admin {
        hub::users::set_admin(&state.hub, actor, &user, admin).await?;
    }
    if let Some(new) = new_name {
        hub::users::rename(&state.hub, actor, &user, &new).await?;
    }
    user = hub::users::find_by_id(&state.hub, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user"))?;
    Ok(Json(user_model(&state.hub, &user, false).await?))
}

#[derive(Deserialize, Default)]
pub struct Activity {
    last_activity: Option<String>,
    #[serde(default)]
    servers: std::collections::BTreeMap<String, ServerActivity>,
}

#[derive(Deserialize)]
pub struct ServerActivity {
    last_activity: Option<String>,
}

/// An ISO 8601 time as JupyterHub's clients write it (`…Z`, an offset, or none for UTC), in
/// milliseconds since the epoch.
fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339))
        .map_err(|e| ApiError::bad_request(format!("{field} must be an ISO 8601 time: {e}")))?;
    Ok(i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// `POST /users/{name}/activity`: a server reports its activity and its user's (JupyterHub's
/// body: `last_activity` and/or `servers: {NAME: {last_activity}}`).
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Activity>,
) -> Result<StatusCode, ApiError> {
    let (found, groups) = lookup(&state, &raw).await?;
    caller.require(Scope::UsersActivity, Resource::User { name: &raw, groups: &groups })?;
    let user = existing(found, &raw)?;
    let mut report = hub::users::ActivityReport {
        last_activity: body.last_activity.as_deref().map(|t| parse_time("last_activity", t)).transpose()?,
        servers: Vec::with_capacity(body.servers.len()),
    };
    for (name, server) in &body.servers {
        let text = server
            .last_activity
            .as_deref()
            .ok_or_else(|| ApiError::bad_request(format!("servers.{name}.last_activity is required")))?;
        report.servers.push((name.clone(), parse_time(&format!("servers.{name}.last_activity"), text)?));
    }
    hub::users::record_activity(&state.hub, &user, &report).await?;
    Ok(StatusCode::OK)
}
