//! The lifecycle's transitions. Each is one database transaction: the conditional update of the
//! row, the limits it checks, the resources it claims or releases, and its audit row; each
//! returns a typed outcome. Nothing else writes `servers.status`.
//!
//! | from      | to        | transition        | audit row              |
//! |-----------|-----------|-------------------|------------------------|
//! | stopped   | pending   | [`begin_start`]   | `server.start`         |
//! | pending   | running   | [`mark_running`]  | `server.ready`         |
//! | pending   | stopped   | [`start_failed`]  | `server.start_failed`  |
//! | running   | stopping  | [`begin_stop`]    | `server.stop`          |
//! | stopping  | stopped   | [`finish_stop`]   | `server.stopped`       |
//! | stopping  | stopping  | [`stop_failed`]   | `server.stop_failed`   |
//! | running   | stopped   | [`died`]          | `server.died`          |

use serde_json::json;

use super::state::ServerState;
use super::ServerError;
use crate::catalogue::Launch;
use crate::db::servers::{self, ServerRow, StoredWorkload};
use crate::db::{events, DbConn};
use crate::domain::ServerName;
use crate::gpus::ledger::{self, Claim};
use crate::spawner::{SpawnerKind, Upstream};
use crate::Hub;

/// What [`begin_start`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartClaim {
    /// The row is now pending and this process carries the start out, with these GPUs.
    Claimed {
        server_id: i64,
        gpus: Vec<String>,
    },
    AlreadyPending,
    AlreadyRunning,
    /// Queued or stopping: try again when it has finished.
    Busy(ServerState),
}

/// Who asked for a transition, for the audit row (`None`: the hub itself).
pub type Actor<'a> = Option<&'a str>;

fn target(row: &ServerRow) -> String {
    format!("{}/{}", row.user_name, row.name)
}

/// The resources a start claims, inside its transaction: the size's GPUs from the ledger
/// (released in every transition that ends in `stopped`).
async fn claim_resources(
    hub: &Hub,
    conn: &mut DbConn,
    row: &ServerRow,
    launch: &Launch,
    now: i64,
) -> Result<Vec<String>, ServerError> {
    let inventory = hub.gpus().snapshot();
    match ledger::claim(conn, &inventory, row.id, &launch.size, now).await? {
        Claim::Claimed(uuids) => Ok(uuids),
        Claim::NoneFree { suitable, free } => Err(ServerError::GpusBusy {
            size: launch.size.id.clone(),
            suitable,
            free,
            retry_after_seconds: 60,
        }),
    }
}

/// stopped → pending, with the named-server limit, the spawn limits and the planned workload,
/// all in one transaction under the fleet lock, so concurrent starts cannot overshoot a limit.
#[allow(clippy::too_many_arguments)]
pub async fn begin_start(
    hub: &Hub,
    actor: Actor<'_>,
    user_id: i64,
    server: &ServerName,
    launch: &Launch,
    kind: SpawnerKind,
    planned: &StoredWorkload,
) -> Result<StartClaim, ServerError> {
    let now = hub.clock().now_ms();
    let policy = &hub.config().servers;
    let mut tx = hub.db().begin().await?;
    servers::lock_fleet(&mut tx).await?;
    let existing = servers::get(&mut *tx, user_id, server).await?;
    if existing.is_none() && !server.is_default() {
        let limit = policy.named_servers_limit;
        if servers::count_named(&mut tx, user_id).await? >= i64::from(limit) {
            return Err(ServerError::TooManyNamed(limit));
        }
    }
    servers::ensure(&mut tx, user_id, server, now).await?;
    let row = servers::get(&mut *tx, user_id, server).await?.ok_or(ServerError::NotFound)?;
    match row.state {
        ServerState::Stopped => {}
        ServerState::Running => return Ok(StartClaim::AlreadyRunning),
        ServerState::Pending => return Ok(StartClaim::AlreadyPending),
        other @ (ServerState::Queued | ServerState::Stopping) => return Ok(StartClaim::Busy(other)),
    }
    if servers::count_in(&mut tx, &[ServerState::Pending]).await? >= i64::from(policy.concurrent_spawn_limit)
    {
        return Err(ServerError::TooManySpawns { retry_after_seconds: 10 });
    }
    if policy.active_server_limit > 0
        && servers::count_in(&mut tx, &ServerState::active().collect::<Vec<_>>()).await?
            >= i64::from(policy.active_server_limit)
    {
        return Err(ServerError::TooManyActive { retry_after_seconds: 60 });
    }
    let gpus = claim_resources(hub, &mut tx, &row, launch, now).await?;
    let start = servers::PlannedStart {
        flavour: &launch.flavour.id,
        size: &launch.size.id,
        kind,
        planned,
        worker: hub.instance_id(),
    };
    if !servers::begin_start(&mut tx, row.id, start, now).await? {
        return Ok(StartClaim::Busy(row.state));
    }
    events::record(
        &mut *tx,
        actor,
        "server.start",
        Some(&target(&row)),
        json!({ "flavour": launch.flavour.id, "size": launch.size.id, "spawner": kind, "gpus": gpus }),
    )
    .await?;
    tx.commit().await?;
    Ok(StartClaim::Claimed { server_id: row.id, gpus })
}

/// pending → running. False when the row is no longer pending (stopped or settled meanwhile).
pub async fn mark_running(
    hub: &Hub,
    row: &ServerRow,
    upstream: &Upstream,
    workload: &StoredWorkload,
) -> Result<bool, ServerError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    if !servers::mark_running(&mut tx, row.id, upstream, workload, now).await? {
        return Ok(false);
    }
    events::record(
        &mut *tx,
        None,
        "server.ready",
        Some(&target(row)),
        json!({ "upstream": upstream.origin() }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// pending → stopped, after the workload was removed, with the reason shown to the owner.
pub async fn start_failed(
    hub: &Hub,
    row: &ServerRow,
    reason: &str,
    action: &str,
) -> Result<bool, ServerError> {
    ended(hub, row, ServerState::Pending, Some(reason), action, json!({ "reason": reason })).await
}

/// running → stopping, carried out by this process.
pub async fn begin_stop(hub: &Hub, actor: Actor<'_>, row: &ServerRow) -> Result<bool, ServerError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    if !servers::begin_stop(&mut tx, row.id, ServerState::Running, hub.instance_id(), now).await? {
        return Ok(false);
    }
    events::record(&mut *tx, actor, "server.stop", Some(&target(row)), json!({})).await?;
    tx.commit().await?;
    Ok(true)
}

/// stopping → stopped, once the spawner says the workload is gone.
pub async fn finish_stop(hub: &Hub, row: &ServerRow) -> Result<bool, ServerError> {
    ended(hub, row, ServerState::Stopping, None, "server.stopped", json!({})).await
}

/// stopping stays stopping: the spawner refused; the error is shown and the stop retried.
pub async fn stop_failed(hub: &Hub, row: &ServerRow, error: &str) -> Result<bool, ServerError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    if !servers::stop_failed(&mut tx, row.id, error, now).await? {
        return Ok(false);
    }
    events::record(&mut *tx, None, "server.stop_failed", Some(&target(row)), json!({ "reason": error }))
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// running → stopped: the workload exited or vanished on its own (it was removed first).
pub async fn died(hub: &Hub, row: &ServerRow, reason: &str) -> Result<bool, ServerError> {
    ended(hub, row, ServerState::Running, Some(reason), "server.died", json!({ "reason": reason })).await
}

/// Any transition into `stopped`: releases what the start claimed.
async fn ended(
    hub: &Hub,
    row: &ServerRow,
    from: ServerState,
    error: Option<&str>,
    action: &str,
    detail: serde_json::Value,
) -> Result<bool, ServerError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    if !servers::mark_stopped(&mut tx, row.id, from, error, now).await? {
        return Ok(false);
    }
    let released = ledger::release(&mut tx, row.id).await?;
    let detail = match (released, detail) {
        (0, detail) => detail,
        (n, serde_json::Value::Object(mut map)) => {
            map.insert("gpus_released".into(), n.into());
            serde_json::Value::Object(map)
        }
        (_, detail) => detail,
    };
    events::record(&mut *tx, None, action, Some(&target(row)), detail).await?;
    tx.commit().await?;
    Ok(true)
}
