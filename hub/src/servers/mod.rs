//! Server lifecycle: start (with progress), stop, delete, list, and reconciling the database
//! against the spawners. The database row's state is the source of truth; every change is one
//! transaction in [`transitions`], so concurrent requests for the same server are safe (one wins,
//! the others see it busy) and no row says stopped while its workload runs.
//!
//! Rooms: `launch` (start, the spawn and the wait for Jupyter), `stop` (stop, delete, purge),
//! `queue` (the GPU queue), `health` (polling running servers), [`logs`] (a server's log for
//! its owner), [`engine`] (whether the engine answers, and the reconcile when it is back),
//! `reconcile` (the lease-held
//! settling against the spawners and the orphan sweep), `named` (create and change named
//! servers), `queries` (reading them), [`live_usage`] (what running servers use), and
//! [`transitions`] (every state change's transaction). This file holds what they share: the
//! error, the views (`ServerInfo`), URLs and routes.

pub mod activity;
pub mod culler;
pub mod engine;
pub mod gpu_limits;
mod health;
pub(crate) mod in_flight;
pub mod kernels;
mod launch;
pub mod live_usage;
pub mod logs;
mod named;
pub mod progress;
mod queries;
mod queue;
mod readiness;
mod reconcile;
pub mod routes;
pub mod singleuser;
pub mod state;
mod stop;
pub mod transitions;

pub use health::{check_soon, poll_running};
pub use launch::start;
use launch::{launch_start, retry_db};
pub use live_usage::{usage, usage_all, LiveServer};
pub use named::{create, modify, ServerChange};
pub use queries::{active, get, list, page_details};
pub(crate) use queue::advance_queue_soon;
use queue::publish_queue_positions;
pub use queue::{advance_queue, describe_wait, queue, QueuePlace};
pub(crate) use reconcile::holds_lease as holds_reconcile_lease;
pub use reconcile::{reconcile, sweep_orphans, Reconciled};
use stop::carry_out_stop;
pub(crate) use stop::stop_because;
pub use stop::{delete, purge_user, stop};

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::accounts::User;
pub use crate::catalogue::Requested;
use crate::catalogue::{self, Launch, LaunchError};
use crate::db::{self, events, leases, servers::BadRow, servers::ServerRow, servers::StoredWorkload};
use crate::domain::{ServerName, ServerNameError, UserName};
use crate::secret::SecretToken;
use crate::spawner::{
    ProgressStep, ServerStatus, SpawnError, SpawnSpec, Spawner, SpawnerKind, Started, Upstream,
};
use crate::Hub;
use progress::ProgressEvent;
use routes::Route;
pub use state::ServerState;
use transitions::StartClaim;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    InvalidName(#[from] ServerNameError),
    #[error("named servers are turned off on this hub")]
    NamedServersDisabled,
    #[error("you already have {0} named servers, the most allowed")]
    TooManyNamed(u32),
    #[error("there is no such server")]
    NotFound,
    #[error("the server is {0}; try again when it has finished")]
    Busy(ServerState),
    #[error("the server is {0}; stop it before changing it")]
    NotStopped(ServerState),
    #[error("nothing to change: give a new name or user_options")]
    NothingToChange,
    #[error("the default server cannot be renamed, and no server can be renamed to it")]
    DefaultNotRenamed,
    #[error("there is already a server named {0}")]
    NameTaken(String),
    #[error("too many servers are starting right now; try again in {retry_after_seconds} seconds")]
    TooManySpawns { retry_after_seconds: u64 },
    #[error("the hub is running as many servers as it may; try again later")]
    TooManyActive { retry_after_seconds: u64 },
    #[error(transparent)]
    GpuLimit(#[from] crate::gpus::limits::Refusal),
    #[error("no GPU session limit applies to this server, so there is nothing to extend")]
    NothingToExtend,
    #[error("the server is {0}, not running, so there is nothing to keep running")]
    NotRunning(ServerState),
    #[error("others are waiting for GPUs, so the session cannot be extended")]
    OthersWaiting,
    #[error("the server could not be stopped and stays stopping; the hub retries: {0}")]
    StopFailed(SpawnError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    BadRow(#[from] BadRow),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Decode(inner) = &e {
            if let Some(bad) = inner.downcast_ref::<BadRow>() {
                return Self::BadRow(bad.clone());
            }
        }
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// A start began; follow its progress.
    Started,
    /// No suitable GPU is free: the server waits in the queue and starts by itself when its turn
    /// comes (its progress says its position).
    Queued,
    AlreadyPending,
    AlreadyRunning,
}

/// A server as pages and the API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub id: i64,
    pub name: ServerName,
    pub state: ServerState,
    pub flavour: Option<String>,
    pub size: Option<String>,
    /// `/user/{name}/…`: where the owner opens it.
    pub url: String,
    /// Why the last start or stop failed (a `stopping` server with an error is being retried).
    pub last_error: Option<String>,
    pub started_at: Option<i64>,
    pub last_activity: Option<i64>,
}

/// `/user/{name}/` or `/user/{name}/{server}/`.
pub fn base_url(user: &UserName, server: &ServerName) -> String {
    if server.is_default() {
        format!("/user/{user}/")
    } else {
        format!("/user/{user}/{server}/")
    }
}

/// The REST API's event stream of a start: `/hub/api/users/{name}/server/progress` for the default
/// server, `/hub/api/users/{name}/servers/{server}/progress` for a named one.
pub fn progress_url(user: &UserName, server: &ServerName) -> String {
    if server.is_default() {
        format!("/hub/api/users/{user}/server/progress")
    } else {
        format!("/hub/api/users/{user}/servers/{server}/progress")
    }
}

fn info_from(row: ServerRow) -> ServerInfo {
    ServerInfo {
        id: row.id,
        url: base_url(&row.user_name, &row.name),
        name: row.name,
        state: row.state,
        flavour: row.flavour,
        size: row.size,
        last_error: row.last_error,
        started_at: row.started_at,
        last_activity: row.last_activity,
    }
}

/// The token Jupyter accepts for one start: derived from the hub's secret and a per-start nonce, so
/// the database never holds it.
pub(crate) fn upstream_token(hub: &Hub, nonce: &str) -> String {
    hex::encode(Sha256::digest(format!("{}:{nonce}", hub.secret()).as_bytes()))
}

fn route_for(hub: &Hub, row: &ServerRow, upstream: Upstream, workload: &StoredWorkload) -> Route {
    Route {
        server_id: row.id,
        user_id: row.user_id,
        upstream,
        token: (flavour_kind(hub, row) == crate::config::FlavourKind::Jupyterlab)
            .then(|| upstream_token(hub, &workload.token_nonce)),
    }
}

/// How a server's flavour starts (a flavour the config no longer has: the plain kind).
fn flavour_kind(hub: &Hub, row: &ServerRow) -> crate::config::FlavourKind {
    row.flavour
        .as_deref()
        .and_then(|id| hub.config().flavours.iter().find(|f| f.id == id))
        .map(|f| f.kind)
        .unwrap_or_default()
}

/// The spawner that started `row`'s workload (not necessarily the configured one).
fn spawner_of<'h>(hub: &'h Hub, row: &ServerRow) -> Result<&'h dyn Spawner, SpawnError> {
    let kind = match (&row.spawner_kind, &row.workload) {
        (Some(kind), _) => *kind,
        (None, Some(w)) => w.workload.kind,
        (None, None) => hub.spawners().current_kind(),
    };
    hub.spawners().of(kind)
}

/// Rows in `state`, logging (and skipping) those that do not parse.
async fn rows_in(hub: &Hub, state: ServerState) -> Result<Vec<ServerRow>, ServerError> {
    Ok(db::servers::in_state(hub.db(), state)
        .await?
        .into_iter()
        .filter_map(|r| r.map_err(|e| warn!(error = %e, "skipping a server row that does not parse")).ok())
        .collect())
}

impl crate::error::Classify for ServerError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::{ErrorClass as C, UNAVAILABLE_RETRY_SECONDS};
        match self {
            // JupyterHub answers 400 for a server busy starting or stopping, and for the limits on
            // named servers; its clients expect that.
            ServerError::Launch(_)
            | ServerError::InvalidName(_)
            | ServerError::NamedServersDisabled
            | ServerError::TooManyNamed(_)
            | ServerError::Busy(_)
            | ServerError::NotStopped(_)
            | ServerError::NothingToChange
            | ServerError::DefaultNotRenamed => C::Invalid,
            ServerError::NotFound => C::NotFound,
            ServerError::NameTaken(_)
            | ServerError::OthersWaiting
            | ServerError::NothingToExtend
            | ServerError::NotRunning(_) => C::Conflict,
            ServerError::GpuLimit(_) => C::Forbidden,
            ServerError::TooManySpawns { retry_after_seconds }
            | ServerError::TooManyActive { retry_after_seconds } => {
                C::Throttled { retry_after_seconds: *retry_after_seconds }
            }
            ServerError::StopFailed(_) => C::Unavailable { retry_after_seconds: UNAVAILABLE_RETRY_SECONDS },
            ServerError::Spawn(e) => e.class(),
            ServerError::BadRow(_) | ServerError::Unexpected(_) => C::Internal,
        }
    }
}

#[cfg(test)]
mod tests;
