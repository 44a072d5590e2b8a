//! The hub's Prometheus metrics (`GET /hub/metrics`): JupyterHub's families with their names,
//! types, labels and label values (so JupyterHub's Grafana dashboards and alerts read Ganymede
//! unchanged; `jupyterhub/metrics.py`), and Ganymede's own under `ganymede_`.
//!
//! Durations are observed where the work happens (a start, a stop, a poll, a route change, a
//! sign-in); what the database or the samplers already know (users, servers, GPUs, the queue,
//! live usage) is read once per scrape, in a handful of queries whatever the number of users.
//! Every label combination JupyterHub creates at start-up exists at zero from the start here too.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sqlx::Row;

/// A counter handle the proxy keeps (one atomic add per use).
pub use prometheus::IntCounter as Counter;

use crate::Hub;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("reading the metrics' figures from the database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("encoding the metrics failed: {0}")]
    Encode(#[from] prometheus::Error),
}

/// The `Content-Type` of [`render`]'s text (Prometheus' text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// JupyterHub's `handler` label of the spawn-progress stream, which its dashboards leave out of
/// the latency panels.
pub const PROGRESS_HANDLER: &str = "jupyterhub.apihandlers.users.SpawnProgressAPIHandler";

/// prometheus_client's default buckets (JupyterHub's histograms use them unless they say).
const DEFAULT_BUCKETS: [f64; 14] =
    [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
/// `jupyterhub_server_spawn_duration_seconds`' buckets (metrics.py).
const SPAWN_BUCKETS: [f64; 12] = [0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0];
/// `jupyterhub_event_loop_interval_seconds`' buckets (metrics.py).
const EVENT_LOOP_BUCKETS: [f64; 15] =
    [0.05, 0.055, 0.06, 0.065, 0.07, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
/// The GPU queue's wait, in seconds (a wait is minutes to hours).
const QUEUE_WAIT_BUCKETS: [f64; 10] = [1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0];
/// How often the event-loop interval is measured (JupyterHub's resolution).
pub const EVENT_LOOP_RESOLUTION: Duration = Duration::from_millis(50);

/// How a start ended, as JupyterHub labels it (`ServerSpawnStatus`): `failure` is a start the hub
/// refused or the server's own failure (it exited, timed out); `error` is anything unexpected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnStatus {
    Success,
    Failure,
    Error,
}

impl SpawnStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
        }
    }
}

/// JupyterHub's spawn `reason` values (`ServerSpawnFailureReason`), plus the server's own ones.
pub mod spawn_reason {
    pub const NONE: &str = "";
    pub const THROTTLED: &str = "throttled";
    pub const TOO_MANY_USERS: &str = "too-many-users";
    pub const ALREADY_PENDING: &str = "already-pending";
    pub const EXITED: &str = "exited";
    pub const TIMEOUT: &str = "timeout";
}

/// Success or failure, for the families JupyterHub labels so (stops, route changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Self::Success
        } else {
            Self::Failure
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    /// `LoginStatus` has no `__str__` in JupyterHub, so its exported values read so.
    const fn login_label(self) -> &'static str {
        match self {
            Self::Success => "LoginStatus.success",
            Self::Failure => "LoginStatus.failure",
        }
    }
}

/// What a poll found (`ServerPollStatus`, exported by JupyterHub with its class name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollStatus {
    Running,
    Stopped,
}

impl PollStatus {
    const fn label(self) -> &'static str {
        match self {
            Self::Running => "ServerPollStatus.running",
            Self::Stopped => "ServerPollStatus.stopped",
        }
    }
}

/// Why the culler stopped something (`ganymede_culls_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CullReason {
    Idle,
    MaxAge,
    IdleUser,
}

impl CullReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::MaxAge => "max-age",
            Self::IdleUser => "idle-user",
        }
    }
    const ALL: [CullReason; 3] = [Self::Idle, Self::MaxAge, Self::IdleUser];
}

/// The active-user periods (`ActiveUserPeriods`), with their length.
const ACTIVE_PERIODS: [(&str, i64); 3] =
    [("24h", 86_400_000), ("7d", 7 * 86_400_000), ("30d", 30 * 86_400_000)];

/// Every family, registered once per hub.
pub struct Metrics {
    registry: Registry,
    request_duration: HistogramVec,
    spawn_duration: HistogramVec,
    stop_duration: HistogramVec,
    poll_duration: HistogramVec,
    proxy_add: HistogramVec,
    proxy_delete: HistogramVec,
    check_routes: Histogram,
    startup: Histogram,
    init_spawners: Histogram,
    running_servers: IntGauge,
    total_users: IntGauge,
    active_users: IntGaugeVec,
    login: HistogramVec,
    logout: Histogram,
    event_loop: Histogram,
    // Ganymede's own.
    gpus: IntGaugeVec,
    queue_length: IntGauge,
    queue_wait: Histogram,
    gpu_hours: Gauge,
    servers: IntGaugeVec,
    proxy_requests: IntCounterVec,
    proxy_bytes: IntCounterVec,
    proxy_websockets: IntGauge,
    server_cpu: GaugeVec,
    server_memory: GaugeVec,
    server_gpu_utilization: GaugeVec,
    server_gpu_memory: GaugeVec,
    culls: IntCounterVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    pool_acquire: Gauge,
    scrape_duration: Gauge,
    engine_errors: IntCounter,
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    // The names and buckets are constants of this module: a failure here is a bug, caught by the
    // unit test below on every build.
    let family = HistogramVec::new(opts, labels).expect("a valid histogram");
    registry.register(Box::new(family.clone())).expect("a family registered once");
    family
}

fn plain_histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let family = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid histogram");
    registry.register(Box::new(family.clone())).expect("a family registered once");
    family
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("a valid gauge");
    registry.register(Box::new(gauge.clone())).expect("a family registered once");
    gauge
}

fn int_gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
    registry.register(Box::new(gauge.clone())).expect("a family registered once");
    gauge
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::new(name, help).expect("a valid gauge");
    registry.register(Box::new(gauge.clone())).expect("a family registered once");
    gauge
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let gauge = GaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
    registry.register(Box::new(gauge.clone())).expect("a family registered once");
    gauge
}

fn counters(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry.register(Box::new(counter.clone())).expect("a family registered once");
    counter
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let m = Metrics {
            request_duration: histogram(
                &r,
                "jupyterhub_request_duration_seconds",
                "Request duration for all HTTP requests",
                &DEFAULT_BUCKETS,
                &["method", "handler", "code"],
            ),
            spawn_duration: histogram(
                &r,
                "jupyterhub_server_spawn_duration_seconds",
                "Time taken for server spawning operation",
                &SPAWN_BUCKETS,
                &["status", "reason"],
            ),
            stop_duration: histogram(
                &r,
                "jupyterhub_server_stop_seconds",
                "Time taken for server stopping operation",
                &DEFAULT_BUCKETS,
                &["status"],
            ),
            poll_duration: histogram(
                &r,
                "jupyterhub_server_poll_duration_seconds",
                "Time taken to poll if server is running",
                &DEFAULT_BUCKETS,
                &["status"],
            ),
            proxy_add: histogram(
                &r,
                "jupyterhub_proxy_add_duration_seconds",
                "Duration for adding user routes to proxy",
                &DEFAULT_BUCKETS,
                &["status"],
            ),
            proxy_delete: histogram(
                &r,
                "jupyterhub_proxy_delete_duration_seconds",
                "Duration for deleting user routes from proxy",
                &DEFAULT_BUCKETS,
                &["status"],
            ),
            check_routes: plain_histogram(
                &r,
                "jupyterhub_check_routes_duration_seconds",
                "Time taken to validate all routes in proxy",
                &DEFAULT_BUCKETS,
            ),
            startup: plain_histogram(
                &r,
                "jupyterhub_hub_startup_duration_seconds",
                "Time taken for Hub to start",
                &DEFAULT_BUCKETS,
            ),
            init_spawners: plain_histogram(
                &r,
                "jupyterhub_init_spawners_duration_seconds",
                "Time taken for spawners to initialize",
                &DEFAULT_BUCKETS,
            ),
            running_servers: int_gauge(
                &r,
                "jupyterhub_running_servers",
                "The number of user servers currently running",
            ),
            total_users: int_gauge(&r, "jupyterhub_total_users", "Total number of users"),
            active_users: int_gauges(
                &r,
                "jupyterhub_active_users",
                "Number of users who were active in the given time period",
                &["period"],
            ),
            login: histogram(
                &r,
                "jupyterhub_login_duration_seconds",
                "duration for all authentication attempts",
                &DEFAULT_BUCKETS,
                &["status"],
            ),
            logout: plain_histogram(
                &r,
                "jupyterhub_logout_duration_seconds",
                "duration for all logout requests",
                &DEFAULT_BUCKETS,
            ),
            event_loop: plain_histogram(
                &r,
                "jupyterhub_event_loop_interval_seconds",
                "Distribution of measured event loop intervals",
                &EVENT_LOOP_BUCKETS,
            ),
            gpus: int_gauges(
                &r,
                "ganymede_gpus",
                "GPU units (whole GPUs or MIG instances) by model and state: free, allocated or faulty",
                &["model", "state"],
            ),
            queue_length: int_gauge(&r, "ganymede_gpu_queue_length", "Servers waiting in the GPU queue"),
            queue_wait: plain_histogram(
                &r,
                "ganymede_gpu_queue_wait_seconds",
                "How long servers waited in the GPU queue before they started",
                &QUEUE_WAIT_BUCKETS,
            ),
            gpu_hours: gauge(&r, "ganymede_gpu_hours", "GPU-hours used, over every recorded GPU session"),
            servers: int_gauges(&r, "ganymede_servers", "Servers by lifecycle state", &["state"]),
            proxy_requests: counters(
                &r,
                "ganymede_proxy_requests_total",
                "Requests the proxy forwarded to users' servers and services, by status code",
                &["code"],
            ),
            proxy_bytes: counters(
                &r,
                "ganymede_proxy_bytes_total",
                "Body bytes through the proxy: in (to servers) and out (to browsers)",
                &["direction"],
            ),
            proxy_websockets: int_gauge(&r, "ganymede_proxy_websockets", "Websockets open through the proxy"),
            server_cpu: gauges(
                &r,
                "ganymede_server_cpu_percent",
                "A running server's CPU use, in percent of one core",
                &["user", "server"],
            ),
            server_memory: gauges(
                &r,
                "ganymede_server_memory_bytes",
                "A running server's memory use",
                &["user", "server"],
            ),
            server_gpu_utilization: gauges(
                &r,
                "ganymede_server_gpu_utilization_percent",
                "Utilization of a GPU a running server holds",
                &["user", "server", "gpu"],
            ),
            server_gpu_memory: gauges(
                &r,
                "ganymede_server_gpu_memory_used_bytes",
                "Memory used on a GPU a running server holds",
                &["user", "server", "gpu"],
            ),
            culls: counters(
                &r,
                "ganymede_culls_total",
                "Servers and users the culler removed, by reason",
                &["reason"],
            ),
            pool_connections: int_gauges(
                &r,
                "ganymede_db_pool_connections",
                "The database pool's connections: idle or in use",
                &["state"],
            ),
            pool_max: int_gauge(&r, "ganymede_db_pool_max_connections", "The database pool's size limit"),
            pool_acquire: gauge(
                &r,
                "ganymede_db_pool_acquire_seconds",
                "How long this scrape waited for a database connection (the pool's current wait)",
            ),
            scrape_duration: gauge(
                &r,
                "ganymede_metrics_scrape_seconds",
                "How long the previous scrape of this endpoint took to gather its figures",
            ),
            engine_errors: {
                let c = IntCounter::new(
                    "ganymede_engine_unreachable_total",
                    "Times the spawner's engine stopped answering the hub",
                )
                .expect("a valid counter");
                r.register(Box::new(c.clone())).expect("a family registered once");
                c
            },
            registry: r,
        };
        m.precreate();
        m
    }

    /// The label sets JupyterHub creates at start-up (metrics.py), and Ganymede's closed ones.
    fn precreate(&self) {
        use spawn_reason::*;
        for (status, reason) in [
            (SpawnStatus::Success, NONE),
            (SpawnStatus::Failure, NONE),
            (SpawnStatus::Error, NONE),
            (SpawnStatus::Failure, THROTTLED),
            (SpawnStatus::Failure, TOO_MANY_USERS),
            (SpawnStatus::Failure, ALREADY_PENDING),
        ] {
            self.spawn_duration.with_label_values(&[status.as_str(), reason]);
        }
        for outcome in [Outcome::Success, Outcome::Failure] {
            self.stop_duration.with_label_values(&[outcome.as_str()]);
            self.proxy_add.with_label_values(&[outcome.as_str()]);
            self.proxy_delete.with_label_values(&[outcome.as_str()]);
        }
        for status in [PollStatus::Running, PollStatus::Stopped] {
            self.poll_duration.with_label_values(&[status.label()]);
        }
        for (period, _) in ACTIVE_PERIODS {
            self.active_users.with_label_values(&[period]);
        }
        for reason in CullReason::ALL {
            self.culls.with_label_values(&[reason.as_str()]);
        }
        for direction in ["in", "out"] {
            self.proxy_bytes.with_label_values(&[direction]);
        }
        for state in crate::stored::ServerState::ALL {
            self.servers.with_label_values(&[state.as_str()]);
        }
        for state in ["idle", "in_use"] {
            self.pool_connections.with_label_values(&[state]);
        }
    }

    /// One request the hub answered itself (not a proxied one), by JupyterHub's handler name.
    pub fn request(&self, method: &str, handler: &str, code: u16, took: Duration) {
        let code = code.to_string();
        self.request_duration
            .with_label_values(&[method, handler, code.as_str()])
            .observe(took.as_secs_f64());
    }

    pub fn spawn(&self, status: SpawnStatus, reason: &str, took: Duration) {
        self.spawn_duration.with_label_values(&[status.as_str(), reason]).observe(took.as_secs_f64());
    }

    /// The successful starts so far: their total time in seconds, and how many.
    pub fn spawn_successes(&self) -> (f64, u64) {
        let success =
            self.spawn_duration.with_label_values(&[SpawnStatus::Success.as_str(), spawn_reason::NONE]);
        (success.get_sample_sum(), success.get_sample_count())
    }

    pub fn stop(&self, outcome: Outcome, took: Duration) {
        self.stop_duration.with_label_values(&[outcome.as_str()]).observe(took.as_secs_f64());
    }

    pub fn poll(&self, status: PollStatus, took: Duration) {
        self.poll_duration.with_label_values(&[status.label()]).observe(took.as_secs_f64());
    }

    /// The route table's own timers: a route added, a route deleted (the table never fails).
    pub fn route_timers(&self) -> (Histogram, Histogram) {
        (
            self.proxy_add.with_label_values(&[Outcome::Success.as_str()]),
            self.proxy_delete.with_label_values(&[Outcome::Success.as_str()]),
        )
    }

    pub fn routes_checked(&self, took: Duration) {
        self.check_routes.observe(took.as_secs_f64());
    }

    /// From the process' start until it serves.
    pub fn started(&self, took: Duration) {
        self.startup.observe(took.as_secs_f64());
    }

    /// The start-up reconcile: the spawners' state read back and every server checked.
    pub fn spawners_initialised(&self, took: Duration) {
        self.init_spawners.observe(took.as_secs_f64());
    }

    pub fn login(&self, outcome: Outcome, took: Duration) {
        self.login.with_label_values(&[outcome.login_label()]).observe(took.as_secs_f64());
    }

    pub fn logout(&self, took: Duration) {
        self.logout.observe(took.as_secs_f64());
    }

    pub fn queue_waited(&self, took: Duration) {
        self.queue_wait.observe(took.as_secs_f64());
    }

    pub fn culled(&self, reason: CullReason) {
        self.culls.with_label_values(&[reason.as_str()]).inc();
    }

    pub fn engine_unreachable(&self) {
        self.engine_errors.inc();
    }

    /// One proxied response's status.
    pub fn proxied(&self, code: u16) {
        self.proxy_requests.with_label_values(&[code.to_string().as_str()]).inc();
    }

    /// Handles the proxy's byte counters keep, so each frame costs one atomic add.
    pub fn proxy_byte_counters(&self) -> (Counter, Counter) {
        (self.proxy_bytes.with_label_values(&["in"]), self.proxy_bytes.with_label_values(&["out"]))
    }

    /// The open-websocket gauge: the proxy raises it for as long as a relay lasts.
    pub fn websocket_opened(&self) -> WebsocketGuard {
        self.proxy_websockets.inc();
        WebsocketGuard(self.proxy_websockets.clone())
    }

    /// The event loop's measured interval (one tick of [`measure_event_loop`]).
    fn event_loop_tick(&self, interval: Duration) {
        self.event_loop.observe(interval.as_secs_f64());
    }
}

/// Lowers the open-websocket gauge when the relay ends.
pub struct WebsocketGuard(IntGauge);

impl Drop for WebsocketGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Measures how late the runtime wakes a task that sleeps [`EVENT_LOOP_RESOLUTION`], as
/// JupyterHub's event-loop lag: the resolution when on time, else the lateness. Runs until dropped.
pub async fn measure_event_loop(hub: Hub) {
    loop {
        let before = Instant::now();
        tokio::time::sleep(EVENT_LOOP_RESOLUTION).await;
        let tick = before.elapsed();
        let observed = if tick < 2 * EVENT_LOOP_RESOLUTION {
            EVENT_LOOP_RESOLUTION
        } else {
            tick - EVENT_LOOP_RESOLUTION
        };
        hub.metrics().event_loop_tick(observed);
    }
}

/// The scrape: reads what the database and the samplers know, then encodes every family.
pub async fn render(hub: &Hub) -> Result<String, MetricsError> {
    let began = Instant::now();
    let m = hub.metrics();
    let pool = hub.db();

    // The pool as it is now, and how long a connection takes to get.
    m.pool_max.set(i64::from(pool.options().get_max_connections()));
    let waited = Instant::now();
    let mut conn = pool.acquire().await?;
    m.pool_acquire.set(waited.elapsed().as_secs_f64());
    let size = i64::from(pool.size());
    let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
    m.pool_connections.with_label_values(&["idle"]).set(idle);
    m.pool_connections.with_label_values(&["in_use"]).set((size - idle).max(0));

    // Users: all, and active within each period, in one query.
    let now = hub.clock().now_ms();
    let users = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS total, \
         CAST(COALESCE(SUM(CASE WHEN last_activity >= $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS d1, \
         CAST(COALESCE(SUM(CASE WHEN last_activity >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS d7, \
         CAST(COALESCE(SUM(CASE WHEN last_activity >= $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS d30 FROM users",
    )
    .bind(now - ACTIVE_PERIODS[0].1)
    .bind(now - ACTIVE_PERIODS[1].1)
    .bind(now - ACTIVE_PERIODS[2].1)
    .fetch_one(&mut *conn)
    .await?;
    m.total_users.set(users.try_get("total")?);
    for (i, (period, _)) in ACTIVE_PERIODS.iter().enumerate() {
        let column = ["d1", "d7", "d30"][i];
        m.active_users.with_label_values(&[period]).set(users.try_get(column)?);
    }

    // Servers by state (running ones also as JupyterHub's gauge; queued ones are the queue).
    let by_state = sqlx::query("SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM servers GROUP BY status")
        .fetch_all(&mut *conn)
        .await?;
    let mut counts: HashMap<String, i64> = HashMap::new();
    for row in &by_state {
        counts.insert(row.try_get("status")?, row.try_get("n")?);
    }
    for state in crate::stored::ServerState::ALL {
        m.servers.with_label_values(&[state.as_str()]).set(counts.get(state.as_str()).copied().unwrap_or(0));
    }
    let running = counts.get(crate::stored::ServerState::Running.as_str()).copied().unwrap_or(0);
    m.running_servers.set(running);
    m.queue_length.set(counts.get(crate::stored::ServerState::Queued.as_str()).copied().unwrap_or(0));

    // GPU-hours: every session's held time, weighted by its share of a GPU.
    let hours = sqlx::query(
        "SELECT CAST(COALESCE(SUM((COALESCE(ended_at, $1) - started_at) * units_milli), 0) AS BIGINT) AS unit_ms \
         FROM gpu_sessions",
    )
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let unit_ms: i64 = hours.try_get("unit_ms")?;
    m.gpu_hours.set(unit_ms as f64 / 1000.0 / 3_600_000.0);

    // Running servers' names, for the per-server series.
    let running_rows = sqlx::query(
        "SELECT s.id, s.name AS server_name, u.name AS user_name FROM servers s JOIN users u ON u.id = s.user_id \
         WHERE s.status = $1",
    )
    .bind(crate::stored::ServerState::Running.as_str())
    .fetch_all(&mut *conn)
    .await?;
    drop(conn);
    let holdings = crate::db::gpu_claims::holdings(pool).await?;

    // GPUs by model and state.
    let inventory = hub.gpus().snapshot();
    let held: HashMap<&str, &crate::db::gpu_claims::Holding> =
        holdings.iter().map(|h| (h.uuid.as_str(), h)).collect();
    m.gpus.reset();
    for unit in &inventory.units {
        let state = if unit.fault.is_some() {
            "faulty"
        } else if held.contains_key(unit.uuid.as_str()) {
            "allocated"
        } else {
            "free"
        };
        for s in ["free", "allocated", "faulty"] {
            m.gpus.with_label_values(&[&unit.model, s]);
        }
        m.gpus.with_label_values(&[&unit.model, state]).inc();
    }

    // Per server: what the live-usage sampler last read (a scrape counts as someone looking, so
    // sampling goes on while Prometheus scrapes), and each held GPU's last reading.
    let usage = hub.live_usage().read_all();
    m.server_cpu.reset();
    m.server_memory.reset();
    for row in &running_rows {
        let id: i64 = row.try_get("id")?;
        let user: String = row.try_get("user_name")?;
        let server: String = row.try_get("server_name")?;
        if let Some(u) = usage.get(&id) {
            m.server_cpu.with_label_values(&[&user, &server]).set(u.cpu_percent);
            m.server_memory.with_label_values(&[&user, &server]).set(u.memory_bytes as f64);
        }
    }
    m.server_gpu_utilization.reset();
    m.server_gpu_memory.reset();
    let readings = hub.gpus().readings();
    for h in &holdings {
        let Some(reading) = readings.get(&h.uuid) else { continue };
        let labels = [h.user.as_str(), h.server.as_str(), h.uuid.as_str()];
        if let Some(u) = reading.utilization_percent {
            m.server_gpu_utilization.with_label_values(&labels).set(f64::from(u));
        }
        if let Some(mib) = reading.memory_used_mib {
            m.server_gpu_memory.with_label_values(&labels).set((mib * 1024 * 1024) as f64);
        }
    }

    let families = m.registry.gather();
    let mut out = Vec::with_capacity(64 * 1024);
    TextEncoder::new().encode(&families, &mut out)?;
    m.scrape_duration.set(began.elapsed().as_secs_f64());
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&m.registry.gather(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn jupyterhubs_families_and_zero_series_exist_from_the_start() {
        let m = Metrics::new();
        let t = text(&m);
        for needle in [
            "# TYPE jupyterhub_server_spawn_duration_seconds histogram",
            "jupyterhub_server_spawn_duration_seconds_count{reason=\"\",status=\"success\"} 0",
            "jupyterhub_server_spawn_duration_seconds_count{reason=\"already-pending\",status=\"failure\"} 0",
            "jupyterhub_server_spawn_duration_seconds_bucket{reason=\"\",status=\"error\",le=\"600\"} 0",
            "jupyterhub_server_stop_seconds_count{status=\"failure\"} 0",
            "jupyterhub_server_poll_duration_seconds_count{status=\"ServerPollStatus.running\"} 0",
            "jupyterhub_proxy_add_duration_seconds_count{status=\"success\"} 0",
            "jupyterhub_proxy_delete_duration_seconds_count{status=\"failure\"} 0",
            "jupyterhub_active_users{period=\"24h\"} 0",
            "jupyterhub_active_users{period=\"30d\"} 0",
            "# TYPE jupyterhub_running_servers gauge",
            "# TYPE jupyterhub_total_users gauge",
            "# TYPE jupyterhub_event_loop_interval_seconds histogram",
            "ganymede_culls_total{reason=\"max-age\"} 0",
        ] {
            assert!(t.contains(needle), "missing {needle:?} in\n{t}");
        }
    }

    #[test]
    fn observations_land_under_jupyterhubs_labels() {
        let m = Metrics::new();
        m.request("GET", PROGRESS_HANDLER, 200, Duration::from_millis(3));
        m.login(Outcome::Failure, Duration::from_millis(40));
        m.poll(PollStatus::Stopped, Duration::from_millis(2));
        m.spawn(SpawnStatus::Failure, spawn_reason::TIMEOUT, Duration::from_secs(700));
        let t = text(&m);
        assert!(t.contains(&format!(
            "jupyterhub_request_duration_seconds_count{{code=\"200\",handler=\"{PROGRESS_HANDLER}\",method=\"GET\"}} 1"
        )));
        assert!(t.contains("jupyterhub_login_duration_seconds_count{status=\"LoginStatus.failure\"} 1"));
        assert!(t.contains(
            "jupyterhub_server_poll_duration_seconds_count{status=\"ServerPollStatus.stopped\"} 1"
        ));
        // 700 s is past the last bucket: only +Inf counts it.
        assert!(t.contains(
            "jupyterhub_server_spawn_duration_seconds_bucket{reason=\"timeout\",status=\"failure\",le=\"600\"} 0"
        ));
        assert!(t.contains(
            "jupyterhub_server_spawn_duration_seconds_bucket{reason=\"timeout\",status=\"failure\",le=\"+Inf\"} 1"
        ));
    }

    #[test]
    fn an_open_websocket_counts_until_its_guard_goes() {
        let m = Metrics::new();
        let a = m.websocket_opened();
        let b = m.websocket_opened();
        assert_eq!(m.proxy_websockets.get(), 2);
        drop(a);
        drop(b);
        assert_eq!(m.proxy_websockets.get(), 0);
    }
}
