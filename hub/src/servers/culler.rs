//! The hub's own culler (`[culler]`): every `every_seconds`, under the reconcile lease (so one hub
//! process does it), each running server's deadline is the earlier of its last activity plus the
//! idle timeout and its start plus the maximum age (its size may have its own). A server past its
//! deadline is stopped with the reason in the audit log and on its owner's dashboard; a culled
//! named server may be removed, and idle users too. The dashboard warns `warn_seconds` ahead,
//! where **Keep running** ([`keep_running`]) counts as activity.
//!
//! What counts as activity is what moves a server's `last_activity`: requests through the proxy
//! that change something, reports of single-user servers, and kernels or terminals at work (see
//! `kernels.rs`). An open tab that only polls does not.

use serde_json::json;
use tracing::{info, warn};

use super::transitions::Because;
use super::{stop, ServerError, ServerState};
use crate::accounts::User;
use crate::config::CullPolicy;
use crate::db::{self, events, servers::ServerRow};
use crate::domain::{ServerName, UserName};
use crate::Hub;

/// Why a server is culled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Nobody used it for the idle timeout.
    Idle,
    /// It reached its maximum age, used or not.
    MaxAge,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Idle => "idle",
            Cause::MaxAge => "max_age",
        }
    }
}

/// When a running server is culled, and what its owner is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CullNotice {
    pub at_ms: i64,
    pub cause: Cause,
    /// "no activity for 1 h", "it reached its maximum age of 8 h".
    pub reason: String,
    /// Whether the warning period has begun.
    pub warned: bool,
    /// Whether using it (or Keep running) moves the deadline: not for a maximum age.
    pub keepable: bool,
}

/// The moment a server is culled and why, from its policy, start and last activity.
pub fn deadline(
    policy: &CullPolicy,
    started_at: Option<i64>,
    last_activity: Option<i64>,
) -> Option<(i64, Cause)> {
    let used = match (started_at, last_activity) {
        (Some(s), Some(a)) => Some(s.max(a)),
        (s, a) => s.or(a),
    };
    let idle = policy.idle_ms.zip(used).map(|(ms, used)| (used.saturating_add(ms), Cause::Idle));
    let aged = policy.max_age_ms.zip(started_at).map(|(ms, s)| (s.saturating_add(ms), Cause::MaxAge));
    match (idle, aged) {
        (Some(i), Some(a)) => Some(if a.0 <= i.0 { a } else { i }),
        (i, a) => i.or(a),
    }
}

/// "45 s", "20 min", "1 h", "1 h 30 min", "2 d 3 h".
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=3599 => format!("{} min", s / 60),
        3600..=172_799 => match (s / 3600, s % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => match (s / 86_400, s % 86_400 / 3600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

fn policy_of(hub: &Hub, row: &ServerRow) -> Option<CullPolicy> {
    hub.config().culler.policy(row.size.as_deref(), !row.name.is_default())
}

fn reason(policy: &CullPolicy, cause: Cause) -> String {
    match cause {
        Cause::Idle => format!("no activity for {}", span(policy.idle_ms.unwrap_or(0))),
        Cause::MaxAge => format!("it reached its maximum age of {}", span(policy.max_age_ms.unwrap_or(0))),
    }
}

/// When the culler stops this running server, if it does.
pub fn notice(hub: &Hub, row: &ServerRow) -> Option<CullNotice> {
    if row.state != ServerState::Running {
        return None;
    }
    let policy = policy_of(hub, row)?;
    let (at_ms, cause) = deadline(&policy, row.started_at, row.last_activity)?;
    let now = hub.clock().now_ms();
    Some(CullNotice {
        at_ms,
        cause,
        reason: reason(&policy, cause),
        warned: now >= at_ms - policy.warn_ms,
        keepable: cause == Cause::Idle,
    })
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Culled {
    pub servers: usize,
    pub removed: usize,
    pub users: usize,
}

/// One round of the culler (nothing unless this process holds the reconcile lease).
pub async fn round(hub: &Hub) -> Result<Culled, ServerError> {
    let mut done = Culled::default();
    let culler = &hub.config().culler;
    if !culler.enabled || !super::reconcile::holds_lease(hub).await? {
        return Ok(done);
    }
    let now = hub.clock().now_ms();
    for row in super::rows_in(hub, ServerState::Running).await? {
        let Some(policy) = policy_of(hub, &row) else { continue };
        let Some((at, cause)) = deadline(&policy, row.started_at, row.last_activity) else { continue };
        if now < at {
            continue;
        }
        let reason = reason(&policy, cause);
        let because = Because {
            action: "server.cull",
            reason: &reason,
            detail: json!({
                "cause": cause.as_str(),
                "started_at": row.started_at,
                "last_activity": row.last_activity,
            }),
        };
        info!(user.name = %row.user_name, server.name = %row.name, %reason, "culling the server");
        match stop::stop_because(hub, &row, &because).await {
            Ok(true) => {
                done.servers += 1;
                hub.metrics().culled(match cause {
                    Cause::Idle => crate::metrics::CullReason::Idle,
                    Cause::MaxAge => crate::metrics::CullReason::MaxAge,
                });
            }
            Ok(false) => continue,
            Err(e) => {
                warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "culling failed; the next round retries");
                continue;
            }
        }
        if culler.remove_named_servers && !row.name.is_default() && remove(hub, &row, &reason).await? {
            done.removed += 1;
        }
    }
    if culler.cull_users {
        let timeout_ms =
            i64::try_from(culler.timeout_seconds).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
        let cutoff = now - timeout_ms;
        let reason = format!("no activity for {}", span(timeout_ms));
        let idle = db::users::idle_since_before(hub.db(), cutoff, culler.cull_admin_users).await?;
        for name in idle.iter().filter_map(|u| UserName::parse(&u.name).ok()) {
            match crate::accounts::cull(hub, &name, cutoff, &reason).await {
                Ok(true) => {
                    info!(user.name = %name, %reason, "culled an idle user");
                    done.users += 1;
                    hub.metrics().culled(crate::metrics::CullReason::IdleUser);
                }
                Ok(false) => {}
                Err(e) => warn!(user.name = %name, error = %e, "culling a user failed"),
            }
        }
    }
    Ok(done)
}

/// Forgets a culled named server (its home stays), in one transaction with its audit row.
async fn remove(hub: &Hub, row: &ServerRow, reason: &str) -> Result<bool, ServerError> {
    let mut tx = hub.db().begin().await?;
    if !db::servers::delete_stopped(&mut tx, row.id).await? {
        return Ok(false);
    }
    let target = format!("{}/{}", row.user_name, row.name);
    events::record(
        &mut *tx,
        None,
        "server.delete",
        Some(&target),
        json!({ "reason": reason, "culled": true }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// **Keep running**: the owner says they still use the server, which counts as its activity (it
/// moves an idle deadline, never a maximum age). Audited.
pub async fn keep_running(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    let row = db::servers::get(hub.db(), user.id, server).await?.ok_or(ServerError::NotFound)?;
    if row.state != ServerState::Running {
        return Err(ServerError::NotRunning(row.state));
    }
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    db::servers::record_activity(&mut tx, row.id, now).await?;
    let target = format!("{}/{}", row.user_name, row.name);
    events::record(&mut *tx, actor, "server.keep_running", Some(&target), json!({})).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy(idle: Option<i64>, age: Option<i64>) -> CullPolicy {
        CullPolicy { idle_ms: idle, max_age_ms: age, warn_ms: MIN }
    }

    #[test]
    fn the_deadline_is_the_earlier_of_idleness_and_age() {
        let p = policy(Some(60 * MIN), Some(8 * 60 * MIN));
        assert_eq!(deadline(&p, Some(0), Some(10 * MIN)), Some((70 * MIN, Cause::Idle)));
        assert_eq!(deadline(&p, Some(0), Some(7 * 60 * MIN + 30 * MIN)), Some((8 * 60 * MIN, Cause::MaxAge)));
        // Activity before the start (a previous run) does not count against it.
        assert_eq!(deadline(&p, Some(100 * MIN), Some(5 * MIN)), Some((160 * MIN, Cause::Idle)));
        assert_eq!(deadline(&policy(None, None), Some(0), None), None);
        assert_eq!(deadline(&policy(Some(MIN), None), None, None), None);
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(45_000), "45 s");
        assert_eq!(span(20 * MIN), "20 min");
        assert_eq!(span(60 * MIN), "1 h");
        assert_eq!(span(90 * MIN), "1 h 30 min");
        assert_eq!(span(51 * 60 * MIN), "2 d 3 h");
    }
}
