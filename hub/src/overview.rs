//! The admin's Overview: the hub's figures over the last day and week, for charts. Every
//! [`SAMPLE_EVERY`] the process holding the reconcile lease writes one sample of each figure —
//! running servers, users active in the last hour, the GPU queue's length and its longest wait,
//! the mean time of the starts that finished since the last sample, each GPU's utilisation and
//! memory in use — into `samples`, in one transaction that also drops what is older than
//! [`KEEP`]. So the charts survive restarts and come from whichever replica samples, and the
//! table stays bounded (about 300 rows a day per figure and GPU).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::accounts::User;
use crate::db;
use crate::stored::ServerState;
use crate::Hub;

/// How often the figures are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(300);
/// How long samples are kept.
pub const KEEP: Duration = Duration::from_secs(8 * 86_400);
/// "Active" in the active-users figure: activity within this long before the sample.
const ACTIVE_WITHIN_MS: i64 = 3_600_000;

/// The figures the Overview charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    RunningServers,
    ActiveUsers,
    QueueLength,
    QueueWaitSeconds,
    SpawnSeconds,
    GpuUtilization,
    GpuMemoryMib,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Self::RunningServers,
        Self::ActiveUsers,
        Self::QueueLength,
        Self::QueueWaitSeconds,
        Self::SpawnSeconds,
        Self::GpuUtilization,
        Self::GpuMemoryMib,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RunningServers => "running_servers",
            Self::ActiveUsers => "active_users",
            Self::QueueLength => "queue_length",
            Self::QueueWaitSeconds => "queue_wait_seconds",
            Self::SpawnSeconds => "spawn_seconds",
            Self::GpuUtilization => "gpu_utilization_percent",
            Self::GpuMemoryMib => "gpu_memory_used_mib",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// What a chart of it is called.
    pub const fn title(self) -> &'static str {
        match self {
            Self::RunningServers => "Running servers",
            Self::ActiveUsers => "Users active in the last hour",
            Self::QueueLength => "Servers waiting for a GPU",
            Self::QueueWaitSeconds => "Longest wait for a GPU (s)",
            Self::SpawnSeconds => "Mean start time (s)",
            Self::GpuUtilization => "GPU utilisation (%)",
            Self::GpuMemoryMib => "GPU memory in use (MiB)",
        }
    }
}

/// One series of one figure: `(time in ms, value)` in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: Metric,
    /// `""` for the hub-wide figures; a GPU's UUID for the GPU ones.
    pub series: String,
    /// For a GPU: its model and index, e.g. "0 · Test GPU 16GB".
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for OverviewError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

impl crate::error::Classify for OverviewError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Internal
    }
}

/// What the sampler remembers between rounds: the successful starts' total time and count, so a
/// sample holds the mean of the starts since the one before.
#[derive(Default)]
pub struct Sampler {
    spawns: Mutex<(f64, u64)>,
}

impl Sampler {
    fn spawns_since_last(&self, now: (f64, u64)) -> Option<f64> {
        let mut last = self.spawns.lock().ok()?;
        let (sum, count) = (now.0 - last.0, now.1.saturating_sub(last.1));
        *last = now;
        (count > 0).then(|| sum / count as f64)
    }
}

fn milli(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

/// One round: samples every figure now (when this process holds the reconcile lease) and drops
/// what is older than [`KEEP`]. Returns how many samples were written.
pub async fn sample(hub: &Hub) -> Result<usize, OverviewError> {
    if !crate::servers::holds_reconcile_lease(hub).await? {
        return Ok(0);
    }
    let now = hub.clock().now_ms();
    let mut figures: Vec<(Metric, String, f64)> = Vec::new();
    {
        let mut conn = hub.db().acquire().await?;
        let running = db::servers::count_in(&mut conn, &[ServerState::Running]).await?;
        figures.push((Metric::RunningServers, String::new(), running as f64));
        let active = db::users::active_since(&mut conn, now - ACTIVE_WITHIN_MS).await?;
        figures.push((Metric::ActiveUsers, String::new(), active as f64));
        let queue = db::servers::queue(&mut conn).await?;
        figures.push((Metric::QueueLength, String::new(), queue.len() as f64));
        let oldest = queue.iter().filter_map(|r| r.as_ref().ok()?.state_changed_at).min();
        let wait = oldest.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        figures.push((Metric::QueueWaitSeconds, String::new(), wait));
    }
    if let Some(mean) = hub.overview().spawns_since_last(hub.metrics().spawn_successes()) {
        figures.push((Metric::SpawnSeconds, String::new(), mean));
    }
    let readings = hub.gpus().readings();
    for unit in hub.gpus().snapshot().units {
        let Some(reading) = readings.get(&unit.uuid) else { continue };
        if let Some(u) = reading.utilization_percent {
            figures.push((Metric::GpuUtilization, unit.uuid.clone(), f64::from(u)));
        }
        if let Some(mib) = reading.memory_used_mib {
            figures.push((Metric::GpuMemoryMib, unit.uuid.clone(), mib as f64));
        }
    }
    let mut tx = hub.db().begin().await?;
    for (metric, series, value) in &figures {
        db::samples::insert(&mut tx, now, metric.as_str(), series, milli(*value)).await?;
    }
    let keep_ms = i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX);
    db::samples::prune(&mut tx, now - keep_ms).await?;
    tx.commit().await?;
    Ok(figures.len())
}

/// A GPU's label: its index and model, else its UUID.
fn gpu_label(hub: &Hub, uuid: &str) -> String {
    match hub.gpus().snapshot().get(uuid) {
        Some(g) => format!("{} · {}", g.index, g.model),
        None => uuid.to_owned(),
    }
}

fn to_series(hub: &Hub, rows: Vec<db::samples::SampleRow>) -> Vec<Series> {
    let mut by: BTreeMap<(Metric, String), Vec<(i64, f64)>> = BTreeMap::new();
    for row in rows {
        let Some(metric) = Metric::parse(&row.metric) else { continue };
        by.entry((metric, row.series)).or_default().push((row.at, row.value_milli as f64 / 1000.0));
    }
    by.into_iter()
        .map(|((metric, series), points)| {
            let label = if series.is_empty() { String::new() } else { gpu_label(hub, &series) };
            Series { metric, series, label, points }
        })
        .collect()
}

/// Every figure's series since `since_ms` (the admin's charts).
pub async fn since(hub: &Hub, since_ms: i64) -> Result<Vec<Series>, OverviewError> {
    Ok(to_series(hub, db::samples::since(hub.db(), since_ms).await?))
}

/// The utilisation of the GPUs `user` holds now, over each one's session so far (the dashboard).
pub async fn gpu_use_of(hub: &Hub, user: &User) -> Result<Vec<Series>, OverviewError> {
    let mut out = Vec::new();
    let sessions = db::gpu_sessions::open_sessions(hub.db()).await?;
    for session in sessions.into_iter().filter(|s| s.user_id == user.id) {
        let rows = db::samples::of_series(
            hub.db(),
            Metric::GpuUtilization.as_str(),
            &session.uuids,
            session.started_at,
        )
        .await?;
        out.extend(to_series(hub, rows));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_start_time_is_of_the_starts_since_the_last_sample() {
        let sampler = Sampler::default();
        assert_eq!(sampler.spawns_since_last((0.0, 0)), None);
        assert_eq!(sampler.spawns_since_last((30.0, 3)), Some(10.0));
        assert_eq!(sampler.spawns_since_last((30.0, 3)), None, "no start since");
        assert_eq!(sampler.spawns_since_last((50.0, 4)), Some(20.0));
    }

    #[test]
    fn every_metric_parses_back() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
        }
    }
}
