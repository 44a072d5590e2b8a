//! `/hub/api/services` and `/hub/api/services/{name}`: the configured `[[services]]`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use hub::scopes::{Access, Resource, Scope};
use hub::services::Service;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::ApiError;

/// A service as JupyterHub describes it: everything with `read:services`, the name alone with
/// `read:services:name`.
pub fn model(caller: &Caller, service: &Service) -> Option<Value> {
    let resource = Resource::Service { name: service.name() };
    if caller.scopes.check(Scope::ReadServices, resource) == Access::Allowed {
        return Some(full(service));
    }
    (caller.scopes.check(Scope::ReadServicesName, resource) == Access::Allowed)
        .then(|| json!({ "kind": "service", "name": service.name() }))
}

/// Everything about a service (also what `GET /hub/api/user` says to the service itself).
pub fn full(service: &Service) -> Value {
    let admin = service.scopes.check(Scope::AdminUsers, Resource::Hub) == Access::Allowed
        && service.scopes.check(Scope::AdminServers, Resource::Hub) == Access::Allowed;
    json!({
        "kind": "service",
        "name": service.name(),
        "admin": admin,
        "roles": service.roles,
        "url": service.config.url.clone().unwrap_or_default(),
        "prefix": if service.config.url.is_some() { service.config.prefix() } else { String::new() },
        "command": service.config.command,
        "pid": service.pid(),
        "info": service.config.info,
        "display": service.config.display && service.config.url.is_some(),
    })
}

/// `GET /hub/api/services`: the services the caller may list, as a map by name (as JupyterHub
/// answers).
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    // A filtered list:services lists what its filters allow; none at all is 403.
    if !caller.scopes.has_any(Scope::ListServices) {
        caller.require(Scope::ListServices, Resource::Hub)?;
    }
    let mut out = Map::new();
    for service in state.hub.services().all() {
        let listed = caller.scopes.check(Scope::ListServices, Resource::Service { name: service.name() });
        if listed != Access::Allowed {
            continue;
        }
        if let Some(m) = model(&caller, service) {
            out.insert(service.name().to_owned(), m);
        }
    }
    Ok(Json(Value::Object(out)))
}

/// `GET /hub/api/services/{name}`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadServicesName, Resource::Service { name: &name })?;
    let service = state
        .hub
        .services()
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such service: {name}")))?;
    model(&caller, service).map(Json).ok_or_else(|| ApiError::not_found(format!("No such service: {name}")))
}
