//! The API's JSON models (User, Server, Token), built from domain values.
//!
//! Every field of the spec's model is present; an unset one is `null`, as JupyterHub sends it
//! (`last_activity`, `pending`, `server`, `started`, `expires_at`, …): its clients read them by key.

use hub::accounts::User;
use hub::domain::UserName;
use hub::servers::{ServerInfo, ServerState};
use hub::tokens::TokenInfo;
use hub::Hub;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;

/// Epoch milliseconds as ISO 8601 UTC (`2026-11-26T03:38:00.123Z`).
pub fn iso(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn opt_iso(ms: Option<i64>) -> Value {
    ms.map(iso).unwrap_or(Value::Null)
}

pub fn server_model(user: &UserName, s: &ServerInfo) -> Value {
    let progress_url = hub::servers::progress_url(user, &s.name);
    let pending = match s.state {
        // JupyterHub's model has "spawn" and "stop"; a server waiting for a GPU says "queued".
        ServerState::Queued => json!("queued"),
        ServerState::Pending => json!("spawn"),
        ServerState::Stopping => json!("stop"),
        ServerState::Stopped | ServerState::Running => Value::Null,
    };
    json!({
        "name": s.name.as_str(),
        "ready": s.state == ServerState::Running,
        "stopped": s.state == ServerState::Stopped,
        "pending": pending,
        "url": s.url,
        "progress_url": progress_url,
        "full_url": null,
        "full_progress_url": null,
        "started": opt_iso(s.started_at),
        "last_activity": opt_iso(s.last_activity),
        "state": null,
        "user_options": { "flavour": s.flavour, "size": s.size },
    })
}

/// The User model; stopped servers only when asked for.
pub async fn user_model(hub: &Hub, user: &User, include_stopped: bool) -> Result<Value, ApiError> {
    let servers = hub::servers::list(hub, user).await?;
    let groups = hub::users::groups_of(hub, user.id).await?;
    Ok(user_model_of(user, &servers, groups, include_stopped))
}

/// The User model from what a page listing fetched in bulk.
pub fn user_model_of(
    user: &User,
    servers: &[ServerInfo],
    groups: Vec<String>,
    include_stopped: bool,
) -> Value {
    let mut map = Map::new();
    let mut default_url = Value::Null;
    let mut pending = Value::Null;
    for s in servers {
        if s.name.is_default() {
            if s.state == ServerState::Running {
                default_url = json!(s.url);
            }
            pending = server_model(&user.name, s)["pending"].clone();
        }
        if include_stopped || s.state != ServerState::Stopped {
            map.insert(s.name.to_string(), server_model(&user.name, s));
        }
    }
    let roles = if user.is_admin { json!(["admin", "user"]) } else { json!(["user"]) };
    json!({
        "kind": "user",
        "name": user.name.as_str(),
        "admin": user.is_admin,
        "roles": roles,
        "groups": groups,
        "server": default_url,
        "pending": pending,
        "created": iso(user.created_at),
        "last_activity": opt_iso(user.last_activity),
        "servers": map,
        "auth_state": null,
    })
}

pub fn token_model(t: &TokenInfo) -> Value {
    json!({
        "id": format!("a{}", t.id),
        "kind": "api_token",
        "user": t.user,
        "roles": [],
        "scopes": t.requested,
        "note": t.note,
        "created": iso(t.created_at),
        "expires_at": opt_iso(t.expires_at),
        "last_activity": opt_iso(t.last_activity),
        "session_id": null,
        "oauth_client": "Ganymede",
    })
}
