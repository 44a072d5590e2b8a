//! Periodic clean-up the hub's housekeeping runs: expired sessions, old failed sign-ins, stale
//! OpenID Connect attempts; and the health probe's database check.

use tracing::{info, warn};

use crate::db;
use crate::Hub;

/// Removes what has expired. Each part is logged on its own and never stops the others.
pub async fn prune(hub: &Hub) {
    let window_ms = i64::try_from(hub.config().auth.local.lockout_window_seconds.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    match db::sessions::delete_expired(hub.db()).await {
        Ok(n) if n > 0 => info!(count = n, "expired sessions removed"),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "removing expired sessions failed"),
    }
    if let Err(e) = db::users::prune_failures(hub.db(), hub.clock().now_ms().saturating_sub(window_ms)).await
    {
        warn!(error = %e, "pruning failed sign-ins failed");
    }
    if let Err(e) = crate::oidc::prune(hub.db()).await {
        warn!(error = %e, "pruning stale OpenID Connect sign-in attempts failed");
    }
}

/// Whether the database answers a query.
pub async fn database_ok(hub: &Hub) -> bool {
    database_answers(hub).await.is_ok()
}

/// How long the probes wait for the database before they call it down.
const DATABASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the database answers a query within [`DATABASE_TIMEOUT`], and why not.
async fn database_answers(hub: &Hub) -> Result<(), String> {
    match tokio::time::timeout(DATABASE_TIMEOUT, db::users::count(hub.db())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
    }
}

/// What the readiness probe found: each part the hub needs to serve, and why one is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub database: Result<(), String>,
    pub engine: Result<(), String>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database.is_ok() && self.engine.is_ok()
    }
}

/// Asks the database and the configured spawner's engine at once, each within a few seconds.
pub async fn readiness(hub: &Hub) -> Readiness {
    let (database, engine) = tokio::join!(database_answers(hub), crate::servers::engine::answers(hub));
    Readiness { database, engine }
}
