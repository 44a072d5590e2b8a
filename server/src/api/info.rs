//! `GET /hub/api` and `GET /hub/api/info`.

use app::state::AppState;
use axum::extract::State;
use axum::Json;
use hub::scopes::{Resource, Scope};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::JUPYTERHUB_API_VERSION;

/// No authentication, as upstream.
pub async fn root() -> Json<Value> {
    Json(json!({ "version": JUPYTERHUB_API_VERSION, "ganymede": env!("CARGO_PKG_VERSION") }))
}

pub async fn info(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadHub, Resource::Hub)?;
    Ok(Json(json!({
        "version": JUPYTERHUB_API_VERSION,
        "ganymede": env!("CARGO_PKG_VERSION"),
        // The spec wants strings, and no Python runs here: say what runs instead.
        "python": format!("ganymede {} (rust)", env!("CARGO_PKG_VERSION")),
        "sys_executable": executable(),
        "authenticator": { "class": "ganymede.LocalAuthenticator", "version": env!("CARGO_PKG_VERSION") },
        "spawner": { "class": hub::spawner::class_name(state.hub.config()), "version": env!("CARGO_PKG_VERSION") },
    })))
}

/// The path of the running hub binary (`sys.executable`'s counterpart).
fn executable() -> String {
    std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "ganymede".to_owned())
}
