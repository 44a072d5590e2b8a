//! `/hub/api/users/{name}/server` and `/hub/api/users/{name}/servers/{server_name}`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hub::domain::ServerName;
use hub::scopes::{Resource, Scope};
use hub::servers::StartOutcome;
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

/// The flavour and size a request names, or the first flavour and its first size.
fn choice(state: &AppState, options: Options) -> Result<(String, String), ApiError> {
    let config = state.hub.config();
    let flavour = match options.flavour {
        Some(f) => f,
        None => config
            .flavours
            .first()
            .map(|f| f.id.clone())
            .ok_or_else(|| ApiError::bad_request("no flavours"))?,
    };
    let size = match options.size {
        Some(s) => s,
        None => config
            .flavours
            .iter()
            .find(|f| f.id == flavour)
            .and_then(|f| hub::catalogue::sizes_for(config, f).first().map(|s| s.id.clone()))
            .ok_or_else(|| ApiError::bad_request(format!("there is no flavour {flavour:?}")))?,
    };
    Ok((flavour, size))
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
    let (flavour, size) = choice(&state, options)?;
    if !hub::servers::create(&state.hub, &owner, &name, &flavour, &size).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{user} already has a server named {server}"),
        ));
    }
    let info = hub::servers::get(&state.hub, &owner, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("No such server"))?;
    Ok((StatusCode::CREATED, Json(server_model(&user, &info))))
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
    let (flavour, size) = choice(state, options)?;
    match hub::servers::start(&state.hub, &owner, &name, &flavour, &size).await? {
        StartOutcome::Started | StartOutcome::AlreadyPending => Ok(StatusCode::ACCEPTED),
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
        hub::servers::delete(&state.hub, &owner, &name).await?;
    } else {
        hub::servers::stop(&state.hub, &owner, &name).await?;
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
    Ok(Json(server_model(&user, &info)))
}
