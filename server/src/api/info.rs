//! `GET /hub/api` and `GET /hub/api/info`.

use axum::Json;
use hub::scopes::{Resource, Scope};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;

/// The JupyterHub API version this hub speaks.
pub const JUPYTERHUB_API_VERSION: &str = "5.3.0";

/// No authentication, as upstream.
pub async fn root() -> Json<Value> {
    Json(json!({ "version": JUPYTERHUB_API_VERSION, "ganymede": env!("CARGO_PKG_VERSION") }))
}

pub async fn info(caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadHub, Resource::Hub)?;
    Ok(Json(json!({
        "version": JUPYTERHUB_API_VERSION,
        "ganymede": env!("CARGO_PKG_VERSION"),
        "python": null,
        "sys_executable": null,
        "authenticator": { "class": "ganymede.LocalAuthenticator", "version": env!("CARGO_PKG_VERSION") },
        "spawner": { "class": "ganymede.DockerSpawner", "version": env!("CARGO_PKG_VERSION") },
    })))
}
