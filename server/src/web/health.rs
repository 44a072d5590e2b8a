//! `GET /hub/health` (liveness: the process serves and its database answers) and `GET /hub/ready`
//! (readiness: the database and the spawner's engine both answer), for load balancers and
//! orchestrators; neither needs authentication.

use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db_ok = hub::maintenance::database_ok(&state.hub).await;
    let status = if db_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": if db_ok { "ok" } else { "error" },
            "version": env!("CARGO_PKG_VERSION"),
            "database": if db_ok { "ok" } else { "unreachable" },
        })),
    )
}

/// 200 when the hub can serve and start servers; 503 naming each part that does not answer
/// (`unavailable`) with the reason under its own key.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let found = hub::maintenance::readiness(&state.hub).await;
    let part = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(why) => json!({ "error": why }),
    };
    let unavailable: Vec<&str> = [("database", &found.database), ("engine", &found.engine)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    let ready = found.ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "unavailable" },
            "version": env!("CARGO_PKG_VERSION"),
            "spawner": state.hub.spawners().current_kind().as_str(),
            "database": part(&found.database),
            "engine": part(&found.engine),
            "unavailable": unavailable,
        })),
    )
}
