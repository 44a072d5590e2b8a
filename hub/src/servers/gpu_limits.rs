//! GPU limits during a session: the meter's round (run by reconcile, under its lease, so one hub
//! process does it) computes each open GPU session's deadline — its length limit, the moment its
//! owner's GPU-hours run out, or its GPUs' idle timeout — warns the owner `warn_minutes` ahead,
//! and stops the server when the deadline comes. An owner may extend a session's length while
//! nobody waits for a GPU.

use std::collections::HashMap;

use serde_json::json;
use tracing::{info, warn};

use super::{ServerError, ServerState};
use crate::accounts::User;
use crate::db::gpu_sessions::{self, SessionRow};
use crate::db::{events, servers as rows};
use crate::domain::ServerName;
use crate::gpus::limits::{self, Effective, Ending};
use crate::gpus::meter;
use crate::Hub;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforced {
    pub warned: usize,
    pub stopped: usize,
}

const MINUTE_MS: i64 = 60_000;

/// One round of the meter over every open GPU session.
pub async fn enforce(hub: &Hub) -> Result<Enforced, ServerError> {
    let now = hub.clock().now_ms();
    let policy = &hub.config().gpu_limits;
    let idle_timeout_ms = i64::try_from(policy.gpu_idle_timeout_minutes).unwrap_or(0) * MINUTE_MS;
    let warn_ms = i64::try_from(policy.warn_minutes).unwrap_or(0) * MINUTE_MS;
    let sessions = gpu_sessions::open_sessions(hub.db()).await?;
    let mut per_user: HashMap<i64, (Effective, f64, i64)> = HashMap::new();
    let mut done = Enforced::default();
    for session in sessions {
        let Some(server_id) = session.server_id else { continue };
        let Some(row) = rows::by_id(hub.db(), server_id).await? else { continue };
        if row.state != ServerState::Running {
            continue;
        }
        let mut conn = hub.db().acquire().await?;
        let (limits, used, rate) = match per_user.get(&session.user_id) {
            Some(known) => known.clone(),
            None => {
                let limits =
                    meter::effective(&mut conn, hub.config(), session.user_id, &session.user_name).await?;
                let (used, rate) = meter::used(&mut conn, session.user_id, limits.window_ms(), now).await?;
                per_user.insert(session.user_id, (limits.clone(), used, rate));
                (limits, used, rate)
            }
        };
        let idle_since =
            if idle_timeout_ms > 0 { track_idle(hub, &mut conn, &session, now).await? } else { None };
        let deadline = limits::deadline(
            &limits,
            session.limit_at,
            used,
            rate,
            idle_since.map(|s| (s, idle_timeout_ms)),
            now,
        );
        if deadline.map(|(at, e)| (at, e.as_str().to_owned()))
            != session.deadline_at.zip(session.deadline_reason.clone())
        {
            gpu_sessions::set_deadline(&mut conn, session.id, deadline.map(|(at, e)| (at, e.as_str())))
                .await?;
        }
        drop(conn);
        let Some((at, ending)) = deadline else { continue };
        let reason = ending.reason(&limits, policy.gpu_idle_timeout_minutes);
        if now >= at {
            info!(user.name = %row.user_name, server.name = %row.name, %reason, "a GPU limit stops the server");
            let because = super::transitions::Because {
                action: "server.stop",
                reason: &reason,
                detail: json!({ "limit": ending.as_str() }),
            };
            match super::stop_because(hub, &row, &because).await {
                Ok(true) => done.stopped += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "stopping at a GPU limit failed; the next round retries")
                }
            }
        } else if now >= at - warn_ms {
            let mut tx = hub.db().begin().await?;
            if gpu_sessions::mark_warned(&mut tx, session.id, now).await? {
                let target = format!("{}/{}", row.user_name, row.name);
                let detail = json!({ "stops_at": at, "limit": ending.as_str(), "reason": reason });
                events::record(&mut *tx, None, "gpu.warning", Some(&target), detail).await?;
                done.warned += 1;
            }
            tx.commit().await?;
        }
    }
    Ok(done)
}

/// Keeps the session's `idle_since` in step with its units' last readings: set when every unit
/// reads idle, cleared when any is busy or cannot be read.
async fn track_idle(
    hub: &Hub,
    conn: &mut crate::db::DbConn,
    session: &SessionRow,
    now: i64,
) -> Result<Option<i64>, ServerError> {
    let threshold = hub.config().gpu_limits.idle_utilization_percent;
    let readings = hub.gpus().readings();
    let idle = !session.uuids.is_empty()
        && session.uuids.iter().all(|u| readings.get(u).is_some_and(|r| r.is_idle(threshold)));
    let since = match (idle, session.idle_since) {
        (true, Some(since)) => Some(since),
        (true, None) => Some(now),
        (false, _) => None,
    };
    if since != session.idle_since {
        gpu_sessions::set_idle_since(conn, session.id, since).await?;
    }
    Ok(since)
}

/// What a running GPU server's owner sees of its session: when a limit stops it and why, whether
/// they were warned, and whether they may extend it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionNotice {
    pub started_ms: i64,
    pub stops_at_ms: Option<i64>,
    pub reason: Option<String>,
    pub warned: bool,
    /// The length limit ends it (not GPU-hours or idleness), so an extension would help.
    pub extensible: bool,
}

pub async fn notice(hub: &Hub, server_id: i64) -> Result<Option<SessionNotice>, ServerError> {
    let Some(session) = gpu_sessions::open_of_server(hub.db(), server_id).await? else { return Ok(None) };
    let limits = {
        let mut conn = hub.db().acquire().await?;
        meter::effective(&mut conn, hub.config(), session.user_id, &session.user_name).await?
    };
    let ending = session.deadline_reason.as_deref().and_then(Ending::parse);
    Ok(Some(SessionNotice {
        started_ms: session.started_at,
        stops_at_ms: session.deadline_at,
        reason: ending.map(|e| e.reason(&limits, hub.config().gpu_limits.gpu_idle_timeout_minutes)),
        warned: session.warned_at.is_some(),
        extensible: ending == Some(Ending::SessionLength),
    }))
}

/// Moves a running GPU session's length limit `extend_minutes` later, while nobody waits for a
/// GPU. Returns the new limit.
pub async fn extend(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<i64, ServerError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    rows::lock_fleet(&mut tx).await?;
    let row = rows::get(&mut *tx, user.id, server).await?.ok_or(ServerError::NotFound)?;
    let session =
        gpu_sessions::open_of_server(&mut *tx, row.id).await?.ok_or(ServerError::NothingToExtend)?;
    let Some(limit_at) = session.limit_at else { return Err(ServerError::NothingToExtend) };
    if rows::count_in(&mut tx, &[ServerState::Queued]).await? > 0 {
        return Err(ServerError::OthersWaiting);
    }
    let by = i64::try_from(hub.config().gpu_limits.extend_minutes).unwrap_or(60) * MINUTE_MS;
    let new_limit = limit_at.max(now) + by;
    gpu_sessions::extend(&mut tx, session.id, new_limit).await?;
    let target = format!("{}/{}", user.name, server);
    events::record(&mut *tx, actor, "gpu.extend", Some(&target), json!({ "until": new_limit })).await?;
    tx.commit().await?;
    Ok(new_limit)
}
