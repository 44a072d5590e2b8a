//! `/hub/api/users/{name}/server` and `/hub/api/users/{name}/servers/{server_name}`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hub::domain::ServerName;
use hub::scopes::{Resource, Scope};
use hub::servers::{Requested, StartOutcome};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use super::models::server_model;
use super::users::{existing, lookup};

/// A start request: `{"user_options": {"flavour": …, "size": …}}`, or (JupyterHub before 6) the
/// options as the whole body.
#[derive(Deserialize, Default)]
pub struct StartBody {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    user_options: Option<Options>,
    #[serde(default)]
    flavour: Option<String>,
    #[serde(default)]
    size: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Options {
    flavour: Option<String>,
    size: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    #[serde(default)]
    remove: bool,
}

fn server_name(raw: &str) -> Result<ServerName, ApiError> {
    ServerName::parse(raw).map_err(|e| ApiError::bad_request(format!("invalid server name {raw:?}: {e}")))
}

/// What a request names; the hub fills in the rest (remembered choice, else its default).
fn requested(options: Options) -> Requested {
    Requested { flavour: options.flavour, size: options.size }
}

/// `PUT /users/{name}/servers/{server}`: create a named server without starting it.
pub async fn create_named(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (found, groups) = lookup(&state, &user).await?;
    caller.require(Scope::Servers, Resource::Server { user: &user, server: &server, groups: &groups })?;
    let owner = existing(found, &user)?;
    let name = server_name(&server)?;
    let options = body.user_options.unwrap_or(Options { flavour: body.flavour, size: body.size });
    let inventory = state.hub.gpus().snapshot();
    let (flavour, size) = hub::catalogue::choose(state.hub.config(), &inventory, requested(options), None)?;
    if !hub::servers::create(&state.hub, Some(caller.actor()), &owner, &name, &flavour, &size).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{user} already has a server named {server}"),
        ));
    }
    let info = hub::servers::get(&state.hub, &owner, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("No such server"))?;
    Ok((StatusCode::CREATED, Json(server_model(&owner.name, &info))))
}

async fn start(
    state: &AppState,
    caller: &Caller,
    user: &str,
    server: &str,
    body: StartBody,
) -> Result<StatusCode, ApiError> {
    let (found, groups) = lookup(state, user).await?;
    caller.require(Scope::Servers, Resource::Server { user, server, groups: &groups })?;
    let owner = existing(found, user)?;
    let name = server_name(server)?;
    let _ = body.display_name;
    let options = body.user_options.unwrap_or(Options { flavour: body.flavour, size: body.size });
    match hub::servers::start(&state.hub, Some(caller.actor()), &owner, &name, requested(options)).await? {
        StartOutcome::Started | StartOutcome::Queued | StartOutcome::AlreadyPending => {
            Ok(StatusCode::ACCEPTED)
        }
        StartOutcome::AlreadyRunning => {
            Err(ApiError::bad_request(format!("{user}'s server {server:?} is already running")))
        }
    }
}

async fn stop(
    state: &AppState,
    caller: &Caller,
    user: &str,
    server: &str,
    body: StopBody,
) -> Result<StatusCode, ApiError> {
    let (found, groups) = lookup(state, user).await?;
    caller.require(Scope::DeleteServers, Resource::Server { user, server, groups: &groups })?;
    let owner = existing(found, user)?;
    let name = server_name(server)?;
    if body.remove {
        hub::servers::delete(&state.hub, Some(caller.actor()), &owner, &name).await?;
    } else {
        hub::servers::stop(&state.hub, Some(caller.actor()), &owner, &name).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn start_default(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<StatusCode, ApiError> {
    start(&state, &caller, &user, "", body).await
}

pub async fn start_named(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<StatusCode, ApiError> {
    if server.is_empty() {
        return Err(ApiError::bad_request("a named server needs a name"));
    }
    start(&state, &caller, &user, &server, body).await
}

pub async fn stop_default(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<StopBody>,
) -> Result<StatusCode, ApiError> {
    if body.remove {
        return Err(ApiError::bad_request("the default server cannot be removed, only stopped"));
    }
    stop(&state, &caller, &user, "", body).await
}

pub async fn stop_named(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<StopBody>,
) -> Result<StatusCode, ApiError> {
    stop(&state, &caller, &user, &server, body).await
}

pub async fn get_named(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, server)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (found, groups) = lookup(&state, &user).await?;
    caller.require(Scope::ReadServers, Resource::Server { user: &user, server: &server, groups: &groups })?;
    let owner = existing(found, &user)?;
    let name = server_name(&server)?;
    let info = hub::servers::get(&state.hub, &owner, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("No such server"))?;
    Ok(Json(server_model(&owner.name, &info)))
}

/// A PATCH: `{"name": …}` renames, `{"user_options": {…}}` changes what the next start uses.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    user_options: Option<Options>,
}

/// `PATCH /users/{name}/servers/{server}`: modify a stopped named server (JupyterHub 6).
pub async fn patch_named(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Json<Value>, ApiError> {
    let (found, groups) = lookup(&state, &user).await?;
    caller.require(Scope::Servers, Resource::Server { user: &user, server: &server, groups: &groups })?;
    let owner = existing(found, &user)?;
    let name = server_name(&server)?;
    if body.display_name.is_some() && body.name.is_none() && body.user_options.is_none() {
        return Err(ApiError::bad_request("display_name is not supported; rename with name"));
    }
    let new_name = body.name.as_deref().map(server_name).transpose()?;
    let options = body.user_options.unwrap_or_default();
    let change = hub::servers::ServerChange { name: new_name, flavour: options.flavour, size: options.size };
    let info = hub::servers::modify(&state.hub, Some(caller.actor()), &owner, &name, change).await?;
    Ok(Json(server_model(&owner.name, &info)))
}
