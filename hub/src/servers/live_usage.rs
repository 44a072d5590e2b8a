//! Live CPU and memory of the running servers, sampled once for every viewer: the dashboards
//! and the admin's GPU tab read what the hub's background work last measured, so their polling
//! costs no engine call, however many tabs are open. A round runs every [`SAMPLE_EVERY`] while
//! someone looked in the last [`VIEWED_WITHIN`] (the first view after a quiet spell starts one at
//! once), reads each running server through its spawner at most [`IN_FLIGHT`] at a time, each
//! within 5 s, and forgets servers that stopped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Notify;
use tracing::warn;

use super::{gpu_limits, rows_in, spawner_of, ServerError, ServerRow, ServerState};
use crate::accounts::User;
use crate::db;
use crate::domain::{ServerName, UserName};
use crate::spawner::Usage;
use crate::Hub;

/// How often a round runs while someone looks.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How recently someone must have looked for rounds to run.
pub const VIEWED_WITHIN: Duration = Duration::from_secs(30);
/// Servers read at once in a round.
pub const IN_FLIGHT: usize = 4;
/// How long one server's reading may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Samples {
    by_server: HashMap<i64, Usage>,
    last_viewed: Option<Instant>,
}

/// The last readings, by server id (one per hub process).
#[derive(Default)]
pub struct LiveUsage {
    samples: Mutex<Samples>,
    wanted: Notify,
}

impl LiveUsage {
    /// The last reading of a server (`None`: none yet, or its spawner cannot tell). Counts as a
    /// view; the first view after nobody looked starts a round at once.
    pub(crate) fn read(&self, server_id: i64) -> Option<Usage> {
        self.viewing(|s| s.by_server.get(&server_id).copied())
    }

    /// Every server's last reading (the metrics' scrape); counts as a view, like [`Self::read`].
    pub(crate) fn read_all(&self) -> HashMap<i64, Usage> {
        self.viewing(|s| Some(s.by_server.clone())).unwrap_or_default()
    }

    /// Reads the samples as a viewer: notes the view, and wakes the sampler when it is the
    /// first after a quiet spell.
    fn viewing<T>(&self, read: impl FnOnce(&Samples) -> Option<T>) -> Option<T> {
        let (found, first) = match self.samples.lock() {
            Ok(mut s) => {
                let first = s.last_viewed.is_none_or(|at| at.elapsed() >= VIEWED_WITHIN);
                s.last_viewed = Some(Instant::now());
                (read(&s), first)
            }
            Err(_) => (None, false),
        };
        if first {
            self.wanted.notify_one();
        }
        found
    }

    fn viewed_recently(&self) -> bool {
        self.samples.lock().ok().and_then(|s| s.last_viewed).is_some_and(|at| at.elapsed() < VIEWED_WITHIN)
    }

    fn replace(&self, readings: HashMap<i64, Usage>) {
        if let Ok(mut s) = self.samples.lock() {
            s.by_server = readings;
        }
    }

    /// Waits until the next round is due: [`SAMPLE_EVERY`], or sooner when a view asks.
    pub async fn next_round(&self) {
        tokio::select! {
            () = tokio::time::sleep(SAMPLE_EVERY) => {}
            () = self.wanted.notified() => {}
        }
    }
}

/// One round: when someone looked recently, reads every running server's usage (bounded) and
/// keeps the readings. Returns how many servers were read.
pub async fn sample(hub: &Hub) -> Result<usize, ServerError> {
    let live = hub.live_usage();
    if !live.viewed_recently() {
        return Ok(0);
    }
    let rows = rows_in(hub, ServerState::Running).await?;
    let count = rows.len();
    let readings: HashMap<i64, Usage> = futures_util::stream::iter(rows)
        .map(|row| async move {
            let (Ok(spawner), Some(workload)) = (spawner_of(hub, &row), row.workload.as_ref()) else {
                return None;
            };
            match tokio::time::timeout(READ_TIMEOUT, spawner.usage(&workload.workload)).await {
                Ok(Ok(usage)) => usage.map(|u| (row.id, u)),
                Ok(Err(e)) => {
                    warn!(server.id = row.id, error = %e, "reading a server's usage failed");
                    None
                }
                Err(_) => None,
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|reading| async move { reading })
        .collect()
        .await;
    live.replace(readings);
    Ok(count)
}

/// What one running server uses now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveServer {
    pub user: UserName,
    pub server: ServerName,
    /// CPU and memory as its spawner measures them (`None`: it cannot tell, or did not answer
    /// within 5 s).
    pub usage: Option<crate::spawner::Usage>,
    /// The units it holds.
    pub gpus: Vec<String>,
    /// Their last readings (none for a static inventory).
    pub gpu_readings: Vec<crate::gpus::readings::Reading>,
    /// Its GPU session's limits, if it holds GPUs.
    pub session: Option<gpu_limits::SessionNotice>,
    /// When the culler stops it, if it does.
    pub cull: Option<super::culler::CullNotice>,
}

/// What each of `user`'s running servers uses now: CPU and memory, GPUs and their utilization,
/// and when a GPU limit stops it.
pub async fn usage(hub: &Hub, user: &User) -> Result<Vec<LiveServer>, ServerError> {
    let rows = db::servers::for_user(hub.db(), user.id).await?;
    live(hub, rows.into_iter().filter(|r| r.state == ServerState::Running).collect()).await
}

/// The same for every running server (the admin's GPU page).
pub async fn usage_all(hub: &Hub) -> Result<Vec<LiveServer>, ServerError> {
    live(hub, rows_in(hub, ServerState::Running).await?).await
}

pub(super) async fn live(hub: &Hub, rows: Vec<ServerRow>) -> Result<Vec<LiveServer>, ServerError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // What the background round last measured: no engine call per viewer.
        let usage = hub.live_usage().read(row.id);
        let gpus = crate::gpus::ledger::of_server(hub, row.id).await?;
        let readings = hub.gpus().readings();
        let gpu_readings = gpus.iter().filter_map(|u| readings.get(u)).collect();
        let session = if gpus.is_empty() { None } else { gpu_limits::notice(hub, row.id).await? };
        let cull = super::culler::notice(hub, &row);
        out.push(LiveServer {
            user: row.user_name,
            server: row.name,
            usage,
            gpus,
            gpu_readings,
            session,
            cull,
        });
    }
    Ok(out)
}
