//! The lifecycle's transitions. Each is one database transaction: the conditional update of the
//! row, the limits it checks, the resources it claims or releases, and its audit row; each
//! returns a typed outcome. Nothing else writes `servers.status`.
//!
//! | from      | to        | transition        | audit row              |
//! |-----------|-----------|-------------------|------------------------|
//! | stopped   | pending   | [`begin_start`]   | `server.start`         |
//! | stopped   | queued    | [`begin_start`]   | `server.queue`         |
//! | queued    | pending   | [`take_turns`]    | `server.start`         |
//! | queued    | stopped   | [`leave_queue`]   | `server.unqueue`       |
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
use crate::gpus::ledger;
use crate::gpus::meter;
use crate::gpus::reserve::{self, Reservation};
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
    /// No suitable GPU is free: the row is queued and starts when its turn comes.
    Queued {
        server_id: i64,
    },
    AlreadyPending,
    AlreadyRunning,
    /// Already queued, or stopping: try again when it has finished.
    Busy(ServerState),
}

/// A queued server whose turn came: now pending, with its GPUs; this process starts it.
#[derive(Debug, Clone)]
pub struct Turn {
    pub row: ServerRow,
    pub launch: Launch,
    pub gpus: Vec<String>,
    pub planned: StoredWorkload,
}

/// Who asked for a transition, for the audit row (`None`: the hub itself).
pub type Actor<'a> = Option<&'a str>;

fn target(row: &ServerRow) -> String {
    format!("{}/{}", row.user_name, row.name)
}

/// The server's OAuth client and its own API token (the single-user contract), registered in
/// the start's transaction; `ended` deletes them.
async fn register_credentials(
    hub: &Hub,
    conn: &mut DbConn,
    row: &ServerRow,
    planned: &StoredWorkload,
    now: i64,
) -> Result<(), ServerError> {
    let token = crate::secret::SecretToken::from_presented(&super::upstream_token(hub, &planned.token_nonce));
    crate::oauth::register_server(conn, row.id, row.user_id, &row.user_name, &row.name, &token, now).await?;
    Ok(())
}

/// The start's GPUs, in its transaction: limits, the ledger's claim and the metering session.
async fn reserve_gpus(
    hub: &Hub,
    conn: &mut DbConn,
    row: &ServerRow,
    launch: &Launch,
    behind_queue: bool,
    now: i64,
) -> Result<Reservation, ServerError> {
    let ask = reserve::Ask {
        server_id: row.id,
        user_id: row.user_id,
        user: row.user_name.as_str(),
        server: row.name.as_str(),
        size: &launch.size,
        behind_queue,
    };
    Ok(reserve::reserve(conn, hub.config(), &hub.gpus().snapshot(), ask, now).await?)
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
    // Nobody waiting goes before the queue: with servers queued, a GPU start queues behind them.
    let waiting = launch.size.gpus > 0 && servers::count_in(&mut tx, &[ServerState::Queued]).await? > 0;
    let gpus = match reserve_gpus(hub, &mut tx, &row, launch, waiting, now).await? {
        Reservation::Granted(gpus) => gpus,
        Reservation::Refused(refusal) => return Err(refusal.into()),
        Reservation::NoneFree => {
            if !servers::enqueue(&mut tx, row.id, &launch.flavour.id, &launch.size.id, now).await? {
                return Ok(StartClaim::Busy(row.state));
            }
            let detail = json!({ "flavour": launch.flavour.id, "size": launch.size.id });
            events::record(&mut *tx, actor, "server.queue", Some(&target(&row)), detail).await?;
            tx.commit().await?;
            return Ok(StartClaim::Queued { server_id: row.id });
        }
    };
    let start = servers::PlannedStart {
        flavour: &launch.flavour.id,
        size: &launch.size.id,
        kind,
        planned,
        worker: hub.instance_id(),
    };
    if !servers::begin_start(&mut tx, row.id, ServerState::Stopped, start, now).await? {
        return Ok(StartClaim::Busy(row.state));
    }
    register_credentials(hub, &mut tx, &row, planned, now).await?;
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

/// running → stopping, carried out by this process. `reason`: why the hub itself stops it (a
/// GPU limit); kept with the GPU session until the stop finishes, then shown to the owner.
pub async fn begin_stop(
    hub: &Hub,
    actor: Actor<'_>,
    row: &ServerRow,
    because: Option<&Because<'_>>,
) -> Result<bool, ServerError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    let shown = because.map(|b| format!("Stopped by the hub: {}.", b.reason));
    if !servers::begin_stop(&mut tx, row.id, ServerState::Running, hub.instance_id(), now, shown.as_deref())
        .await?
    {
        return Ok(false);
    }
    let (action, detail) = match because {
        Some(b) => {
            crate::db::gpu_sessions::set_end_reason(&mut tx, row.id, b.reason).await?;
            let mut detail = match &b.detail {
                serde_json::Value::Object(map) => map.clone(),
                _ => serde_json::Map::new(),
            };
            detail.insert("reason".into(), b.reason.into());
            (b.action, serde_json::Value::Object(detail))
        }
        None => ("server.stop", json!({})),
    };
    events::record(&mut *tx, actor, action, Some(&target(row)), detail).await?;
    tx.commit().await?;
    Ok(true)
}

/// Why the hub itself stops a running server: the audit row's action and detail, and the reason
/// its owner reads on the dashboard once it is stopped.
#[derive(Debug, Clone)]
pub struct Because<'a> {
    pub action: &'static str,
    pub reason: &'a str,
    pub detail: serde_json::Value,
}

/// stopping → stopped, once the spawner says the workload is gone. A stop the hub decided (the
/// culler, a GPU limit) leaves its reason as the server's `last_error`, so the owner sees why.
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

/// queued → stopped: the owner (or an admin) left the queue.
pub async fn leave_queue(hub: &Hub, actor: Actor<'_>, row: &ServerRow) -> Result<bool, ServerError> {
    ended_by(hub, actor, row, ServerState::Queued, None, "server.unqueue", json!({})).await
}

/// queued → pending for the servers whose turn came, in one transaction under the fleet lock:
/// in queue order (users holding no GPU first, then first come first served), each claims its
/// GPUs; the first that cannot ends the round (strict order: a later, smaller request never
/// overtakes it). A queued row whose flavour or size the hub no longer offers leaves the queue
/// with the reason. `plan` gives each its planned workload.
pub async fn take_turns(
    hub: &Hub,
    plan: impl Fn(&ServerRow) -> Result<(SpawnerKind, StoredWorkload), ServerError>,
) -> Result<Vec<Turn>, ServerError> {
    let now = hub.clock().now_ms();
    let policy = &hub.config().servers;
    let inventory = hub.gpus().snapshot();
    let mut tx = hub.db().begin().await?;
    servers::lock_fleet(&mut tx).await?;
    let mut turns = Vec::new();
    for row in servers::queue(&mut tx).await? {
        let Ok(row) = row else { continue };
        let (flavour, size) = (row.flavour.clone().unwrap_or_default(), row.size.clone().unwrap_or_default());
        let launch = match crate::catalogue::resolve(hub.config(), &inventory, &flavour, &size) {
            Ok(launch) => launch,
            Err(e) => {
                let reason = format!("left the queue: {e}");
                if servers::mark_stopped(&mut tx, row.id, ServerState::Queued, Some(&reason), now).await? {
                    let detail = json!({ "reason": reason });
                    events::record(&mut *tx, None, "server.unqueue", Some(&target(&row)), detail).await?;
                }
                continue;
            }
        };
        if servers::count_in(&mut tx, &[ServerState::Pending]).await?
            >= i64::from(policy.concurrent_spawn_limit)
        {
            break;
        }
        // Limits are held again at the turn: the person may have started another GPU server,
        // or used up their GPU-hours, while waiting.
        let gpus = match reserve_gpus(hub, &mut tx, &row, &launch, false, now).await? {
            Reservation::Granted(gpus) => gpus,
            Reservation::Refused(refusal) => {
                let reason = format!("left the queue: {refusal}");
                if servers::mark_stopped(&mut tx, row.id, ServerState::Queued, Some(&reason), now).await? {
                    let detail = json!({ "reason": reason });
                    events::record(&mut *tx, None, "server.unqueue", Some(&target(&row)), detail).await?;
                }
                continue;
            }
            Reservation::NoneFree => break,
        };
        let (kind, planned) = plan(&row)?;
        let start = servers::PlannedStart {
            flavour: &launch.flavour.id,
            size: &launch.size.id,
            kind,
            planned: &planned,
            worker: hub.instance_id(),
        };
        if !servers::begin_start(&mut tx, row.id, ServerState::Queued, start, now).await? {
            continue;
        }
        register_credentials(hub, &mut tx, &row, &planned, now).await?;
        let detail = json!({ "flavour": launch.flavour.id, "size": launch.size.id, "spawner": kind,
                             "gpus": gpus, "from_queue": true });
        events::record(&mut *tx, None, "server.start", Some(&target(&row)), detail).await?;
        turns.push(Turn { row, launch, gpus, planned });
    }
    tx.commit().await?;
    Ok(turns)
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
    ended_by(hub, None, row, from, error, action, detail).await
}

async fn ended_by(
    hub: &Hub,
    actor: Actor<'_>,
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
    meter::close(&mut tx, row.id, error, now).await?;
    crate::oauth::forget_server(&mut tx, row.id).await?;
    let detail = match (released, detail) {
        (0, detail) => detail,
        (n, serde_json::Value::Object(mut map)) => {
            map.insert("gpus_released".into(), n.into());
            serde_json::Value::Object(map)
        }
        (_, detail) => detail,
    };
    events::record(&mut *tx, actor, action, Some(&target(row)), detail).await?;
    tx.commit().await?;
    // The server's OAuth client and tokens are gone: so is what they opened.
    hub.access().forget(&[crate::access::Changed::Server(row.id)]);
    if released > 0 || from == ServerState::Queued {
        // GPUs came free (the queue's next servers may start), or the queue's order changed.
        super::advance_queue_soon(hub);
    }
    Ok(true)
}
