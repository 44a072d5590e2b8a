//! [`Hub`]: the shared handle on configuration, database, spawner, routes and progress.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{self, DbError, Pool};
use crate::gpus::GpuPool;
use crate::oidc::Oidc;
use crate::servers::activity::Activity;
use crate::servers::in_flight::{Debounce, InFlight};
use crate::servers::progress::ProgressHub;
use crate::servers::routes::RouteTable;
use crate::spawner::{self, Spawners};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot read or create the hub secret at {path}: {source}")]
    Secret { path: String, source: std::io::Error },
    #[error("OpenID Connect set-up failed: {0}")]
    Oidc(#[from] crate::oidc::OidcError),
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: Pool,
    secret: String,
    hub_id: String,
    /// This process, among the hub's processes (random per start): its `instance:ID` lease says
    /// it lives, and rows name it as the worker of the starts and stops it carries out.
    instance_id: String,
    clock: Arc<dyn Clock>,
    spawners: Spawners,
    gpus: GpuPool,
    in_flight: InFlight,
    debounce: Debounce,
    routes: RouteTable,
    progress: ProgressHub,
    activity: Activity,
    live_usage: crate::servers::live_usage::LiveUsage,
    access: crate::access::Policy,
    services: crate::services::Services,
    oidc: Option<Arc<Oidc>>,
    metrics: crate::metrics::Metrics,
    engine: crate::servers::engine::EngineState,
    overview: crate::overview::Sampler,
    /// Set when the process begins to stop: open websockets close on it.
    stopping: tokio::sync::watch::Sender<bool>,
    /// The hub's API as servers reach it (`JUPYTERHUB_API_URL`), once its listener is up.
    internal_api_url: std::sync::OnceLock<String>,
}

impl Hub {
    /// Connects to the database, applies migrations, and sets up the configured spawners (which
    /// reach their engines on first use).
    pub async fn open(config: Config) -> Result<Self, HubError> {
        Self::open_with(config, Arc::new(SystemClock), spawner::build).await
    }

    /// Like [`Hub::open`] with another clock and other spawners (unit tests of the lifecycle).
    pub async fn open_with(
        config: Config,
        clock: Arc<dyn Clock>,
        make_spawners: impl FnOnce(&Config, &str) -> Spawners,
    ) -> Result<Self, HubError> {
        let pool = db::connect(&config.database_url()).await?;
        db::migrate(&pool).await?;
        let hub_id = db::settings::hub_id(&pool).await.map_err(DbError::from)?;
        let secret = load_secret(&config)?;
        let spawners = make_spawners(&config, &hub_id);
        let services = crate::services::Services::new(&config, &secret);
        let oidc = if config.auth.oidc.enabled {
            Some(Arc::new(Oidc::new(config.auth.oidc.clone())?))
        } else {
            None
        };
        let instance_id = Instance::here().id();
        // Reading the inventory may run `nvidia-smi`: off the async threads.
        let gpus = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || crate::gpus::discover::discover(&config))
                .await
                .unwrap_or_else(|_| crate::gpus::Inventory::empty())
        };
        let metrics = crate::metrics::Metrics::new();
        let hub = Self {
            inner: Arc::new(Inner {
                config,
                pool,
                secret,
                hub_id,
                instance_id,
                clock,
                spawners,
                gpus: GpuPool::new(gpus),
                in_flight: InFlight::default(),
                debounce: Debounce::default(),
                routes: RouteTable::timed(&metrics),
                progress: ProgressHub::default(),
                activity: Activity::default(),
                live_usage: Default::default(),
                access: crate::access::Policy::default(),
                services,
                oidc,
                metrics,
                engine: Default::default(),
                overview: Default::default(),
                stopping: tokio::sync::watch::Sender::new(false),
                internal_api_url: std::sync::OnceLock::new(),
            }),
        };
        hub.renew_instance_lease().await.map_err(DbError::from)?;
        Ok(hub)
    }

    /// Says this process lives for another [`INSTANCE_LEASE_TTL`]; the housekeeping renews it
    /// well before it ends.
    pub async fn renew_instance_lease(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.db().acquire().await?;
        let ttl = i64::try_from(INSTANCE_LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
        let name = instance_lease(self.instance_id());
        db::leases::acquire(&mut conn, &name, self.instance_id(), self.clock().now_ms(), ttl).await?;
        Ok(())
    }

    /// Gives this process's leases up (a clean shutdown), so others need not wait for them.
    pub async fn release_leases(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.db().acquire().await?;
        db::leases::release(&mut conn, &instance_lease(self.instance_id()), self.instance_id()).await?;
        db::leases::release(&mut conn, "reconcile", self.instance_id()).await
    }

    /// Records where servers reach the hub's API (`http://GATEWAY:PORT/hub/api`); set once, at
    /// start-up, by whoever binds that listener.
    pub fn set_internal_api_url(&self, url: String) {
        let _ = self.inner.internal_api_url.set(url);
    }

    /// Where servers reach the hub's API, if a listener for them is up.
    pub fn internal_api_url(&self) -> Option<&str> {
        self.inner.internal_api_url.get().map(String::as_str)
    }

    /// The configured `[[services]]`.
    pub fn services(&self) -> &crate::services::Services {
        &self.inner.services
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn db(&self) -> &Pool {
        &self.inner.pool
    }

    /// OpenID Connect sign-in, when configured.
    pub fn oidc(&self) -> Option<&Arc<Oidc>> {
        self.inner.oidc.as_ref()
    }

    pub fn hub_id(&self) -> &str {
        &self.inner.hub_id
    }

    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// What the Overview's sampler remembers between rounds.
    pub fn overview(&self) -> &crate::overview::Sampler {
        &self.inner.overview
    }

    /// Says this process is stopping: what waits on [`Hub::stopping`] ends.
    pub fn begin_stopping(&self) {
        self.inner.stopping.send_replace(true);
    }

    /// Resolves once the process begins to stop (at once if it has).
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.inner.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        }
    }

    /// Whether the spawner's engine answered its last check.
    pub fn engine(&self) -> &crate::servers::engine::EngineState {
        &self.inner.engine
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    pub fn spawners(&self) -> &Spawners {
        &self.inner.spawners
    }

    /// The GPU inventory (refreshed by housekeeping).
    pub fn gpus(&self) -> &GpuPool {
        &self.inner.gpus
    }

    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.inner.in_flight
    }

    pub(crate) fn debounce(&self) -> &Debounce {
        &self.inner.debounce
    }

    pub fn routes(&self) -> &RouteTable {
        &self.inner.routes
    }

    pub fn progress(&self) -> &ProgressHub {
        &self.inner.progress
    }

    pub fn activity(&self) -> &Activity {
        &self.inner.activity
    }

    /// The running servers' last CPU and memory readings (see [`crate::servers::live_usage`]).
    pub fn live_usage(&self) -> &crate::servers::live_usage::LiveUsage {
        &self.inner.live_usage
    }

    /// The access policy's memory (see [`crate::access`]).
    pub fn access(&self) -> &crate::access::Policy {
        &self.inner.access
    }

    pub(crate) fn secret(&self) -> &str {
        &self.inner.secret
    }
}

/// How long a hub process counts as alive after it last renewed its lease. A process killed
/// with `kill -9` leaves its starts and stops to the next reconcile after at most this.
pub const INSTANCE_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// A hub process: `{host}/{pid}/{random}`. On its own host a process that is gone is known at
/// once (no `/proc/{pid}`), so a hub restarted after `kill -9` settles what its predecessor left
/// without waiting for that one's lease to expire.
pub(crate) struct Instance {
    host: String,
    pid: u32,
}

impl Instance {
    fn here() -> Self {
        static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let host = HOST.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned()
        });
        Self { host: host.clone(), pid: std::process::id() }
    }

    fn id(&self) -> String {
        let random: String = crate::secret::SecretToken::generate().expose().chars().take(8).collect();
        format!("{}/{}/{random}", self.host, self.pid)
    }

    /// False when `id` names a process on this host that no longer exists; true when it may live.
    pub(crate) fn may_live(id: &str) -> bool {
        let here = Self::here();
        let mut parts = id.splitn(3, '/');
        let (Some(host), Some(pid)) = (parts.next(), parts.next().and_then(|p| p.parse::<u32>().ok())) else {
            return true;
        };
        if host.is_empty() || host != here.host || pid == here.pid {
            return true;
        }
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
}

/// Takes or renews the lease `name` for `holder` (see [`db::leases::acquire`]); a holder known to
/// be dead (its process gone on this host) does not keep it until it expires.
pub(crate) async fn take_lease(
    conn: &mut db::DbConn,
    name: &str,
    holder: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool, sqlx::Error> {
    if db::leases::acquire(conn, name, holder, now, ttl_ms).await? {
        return Ok(true);
    }
    let dead = db::leases::holder(conn, name).await?.filter(|h| !Instance::may_live(h));
    match dead {
        Some(dead) => db::leases::take_from(conn, name, &dead, holder, now, ttl_ms).await,
        None => Ok(false),
    }
}

/// The lease that says the process `instance_id` lives.
pub(crate) fn instance_lease(instance_id: &str) -> String {
    format!("instance:{instance_id}")
}

/// `{data_dir}/hub_secret`: random, made once, readable by the hub's user only.
fn load_secret(config: &Config) -> Result<String, HubError> {
    let path = config.hub.data_dir.join("hub_secret");
    let err = |source| HubError::Secret { path: path.display().to_string(), source };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.trim().is_empty() {
            return Ok(existing.trim().to_owned());
        }
    }
    std::fs::create_dir_all(&config.hub.data_dir).map_err(err)?;
    let secret = crate::secret::SecretToken::generate().expose().to_owned();
    std::fs::write(&path, &secret).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(secret)
}
