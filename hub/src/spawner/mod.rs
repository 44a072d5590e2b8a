//! Starting and stopping notebook servers. The [`Spawner`] trait is the only thing the rest of the
//! hub knows; no caller can tell spawners apart by kind. [`build`] is the only place that names a
//! concrete spawner.
//!
//! A spawner keeps, per server, an opaque [`WorkloadState`] (tagged with its [`SpawnerKind`] and a
//! version) that the hub stores as it is and hands back; it returns a typed [`Upstream`]. Waiting
//! until Jupyter answers is not the spawner's business: `hub::servers` does it for all of them.

pub mod docker;
pub mod local;
#[cfg(test)]
pub mod memory;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::{ServerName, UserName};
use crate::secret::SecretToken;

pub use crate::stored::workload::{Scheme, SpawnerKind, Upstream, WorkloadState};

impl WorkloadState {
    /// The spawner's own structure, when it is of `kind` and `version`.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &self,
        kind: SpawnerKind,
        version: u32,
    ) -> Result<T, SpawnError> {
        if self.kind != kind || self.version != version {
            return Err(SpawnError::BadState(format!(
                "a {} state version {} is not a {kind} state version {version}",
                self.kind, self.version
            )));
        }
        serde_json::from_value(self.data.clone()).map_err(|e| SpawnError::BadState(e.to_string()))
    }
}

/// Everything a spawner needs to start one server.
#[derive(Debug)]
pub struct SpawnSpec {
    pub user: UserName,
    pub server: ServerName,
    pub image: String,
    /// The flavour's environment (a venv or conda prefix), for the local spawner.
    pub environment: Option<std::path::PathBuf>,
    pub cpu: f64,
    pub memory_mib: u64,
    /// The UUIDs of the GPUs (or MIG instances) the ledger gave this server, for it alone.
    pub gpus: Vec<String>,
    /// Jupyter's base URL, `/user/{name}/` or `/user/{name}/{server}/`.
    pub base_url: String,
    /// The token Jupyter accepts; only the hub and the server know it.
    pub token: SecretToken,
    /// How the image starts.
    pub kind: crate::config::FlavourKind,
    /// The flavour's command instead of the kind's own, and its arguments.
    pub cmd: Option<Vec<String>>,
    pub args: Vec<String>,
    /// Environment for the server: the hub's contract (`JUPYTERHUB_*` for a single-user server)
    /// and the flavour's own.
    pub env: Vec<(String, String)>,
    /// `uid[:gid]` to run as, when the flavour says.
    pub run_as: Option<String>,
}

/// A started workload: where it will answer, and how to find it again.
#[derive(Debug, Clone)]
pub struct Started {
    pub upstream: Upstream,
    pub state: WorkloadState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// Up; `upstream` is where it answers now (`None` while the engine has not published it yet).
    /// The address can change behind the hub's back (`docker restart` picks a new host port).
    Running {
        upstream: Option<Upstream>,
    },
    /// The engine is restarting it: neither gone nor reachable.
    Restarting,
    Exited {
        code: i64,
        oom_killed: bool,
    },
    Missing,
}

/// A workload carrying this hub's labels, as the spawner lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub user: String,
    pub server: String,
    pub state: WorkloadState,
    pub running: bool,
}

/// One step of a start, as shown on the progress bar and sent on the progress event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressStep {
    /// 0-100.
    pub progress: u8,
    pub message: String,
}

impl ProgressStep {
    pub fn new(progress: u8, message: impl Into<String>) -> Self {
        Self { progress, message: message.into() }
    }
}

/// Where progress steps go while a spawner works.
pub type ProgressSink<'a> = &'a (dyn Fn(ProgressStep) + Send + Sync);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    #[error("the container engine is unavailable: {0}")]
    EngineUnavailable(String),
    #[error("the image {0} is not available on this hub")]
    ImageMissing(String),
    #[error("the server did not become ready within {0} seconds")]
    Timeout(u64),
    #[error("the server ran out of memory and was stopped")]
    OutOfMemory,
    #[error("the server exited during start-up (exit code {0})")]
    Exited(i64),
    #[error("the container engine refused: {0}")]
    Engine(String),
    #[error("the stored workload state is unreadable: {0}")]
    BadState(String),
    #[error("the local process could not be run: {0}")]
    Process(String),
    #[error("this hub has no {0} spawner configured")]
    NoSuchSpawner(SpawnerKind),
    #[error("the server's network policy (spawner.docker.egress) could not be applied: {0}")]
    Egress(String),
}

#[async_trait]
pub trait Spawner: Send + Sync + 'static {
    fn kind(&self) -> SpawnerKind;
    /// How the workload of (`user`, `server`) will be found, known before it is created: the hub
    /// records it first, so a hub killed mid-start can still find and remove what it made.
    fn planned_state(&self, user: &UserName, server: &ServerName) -> WorkloadState;
    /// Creates and starts the workload, reporting each step, and returns at once when it runs
    /// (the hub then waits for Jupyter). On failure nothing is left running; a workload that ran
    /// and exited may be left (stopped) for the hub to read its log before it stops it.
    async fn start(&self, spec: &SpawnSpec, progress: ProgressSink<'_>) -> Result<Started, SpawnError>;
    /// Stops the workload and removes it (the user's home stays). Stopping what is gone succeeds.
    async fn stop(&self, state: &WorkloadState) -> Result<(), SpawnError>;
    /// What the workload is doing now.
    async fn poll(&self, state: &WorkloadState) -> Result<ServerStatus, SpawnError>;
    /// Removes what a user keeps between servers (their home). Their servers must be stopped.
    async fn remove_home(&self, user: &UserName) -> Result<(), SpawnError>;
    /// Every workload that carries this hub's labels, running or not (orphans included).
    async fn workloads(&self) -> Result<Vec<Workload>, SpawnError>;
    /// The host address its workloads reach the hub on (the Docker network's gateway), when it is
    /// not the loopback the hub serves people on; the hub binds its API-only listener there.
    async fn hub_gateway(&self) -> Result<Option<std::net::IpAddr>, SpawnError> {
        Ok(None)
    }

    /// What the hub checks before it serves, without the engine (which may be down then): that
    /// what its configuration asks of this spawner can be done on this machine at all.
    async fn preflight(&self) -> Result<(), SpawnError> {
        Ok(())
    }

    /// Whether the engine behind this spawner answers now (the readiness probe asks it). Spawners
    /// with no engine of their own are always ready.
    async fn ready(&self) -> Result<(), SpawnError> {
        Ok(())
    }

    /// The last `lines` lines of the workload's output (Jupyter's log), oldest first; `None` when
    /// the workload is gone or the spawner keeps none.
    async fn logs(&self, _state: &WorkloadState, _lines: usize) -> Result<Option<String>, SpawnError> {
        Ok(None)
    }

    /// What the workload uses now (CPU and memory); `None` when the spawner cannot tell.
    async fn usage(&self, _state: &WorkloadState) -> Result<Option<Usage>, SpawnError> {
        Ok(None)
    }
}

/// A running workload's use of CPU and memory, as its engine measures it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Percent of one core (200 = two cores busy).
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
}

/// The hub's spawners: the configured one, which starts new servers, and every other kind this
/// build knows, so that servers an earlier configuration started can still be stopped and
/// reconciled.
#[derive(Clone)]
pub struct Spawners {
    current: SpawnerKind,
    by_kind: BTreeMap<SpawnerKind, Arc<dyn Spawner>>,
}

impl Spawners {
    /// `current` must be among `spawners`.
    pub fn new(current: SpawnerKind, spawners: Vec<Arc<dyn Spawner>>) -> Self {
        let by_kind = spawners.into_iter().map(|s| (s.kind(), s)).collect();
        Self { current, by_kind }
    }

    /// The spawner that starts new servers.
    pub fn current(&self) -> Result<&dyn Spawner, SpawnError> {
        self.of(self.current)
    }

    pub fn current_kind(&self) -> SpawnerKind {
        self.current
    }

    /// The spawner of `kind`, for a workload it started.
    pub fn of(&self, kind: SpawnerKind) -> Result<&dyn Spawner, SpawnError> {
        self.by_kind.get(&kind).map(|s| s.as_ref()).ok_or(SpawnError::NoSuchSpawner(kind))
    }

    pub fn kinds(&self) -> impl Iterator<Item = SpawnerKind> + '_ {
        self.by_kind.keys().copied()
    }
}

/// The only place that names concrete spawners.
pub fn build(config: &Config, hub_id: &str) -> Spawners {
    let docker: Arc<dyn Spawner> =
        Arc::new(docker::DockerSpawner::new(config.spawner.docker.clone(), hub_id.to_owned()));
    let local: Arc<dyn Spawner> = Arc::new(local::LocalSpawner::new(
        config.spawner.local.clone(),
        config.hub.data_dir.clone(),
        hub_id.to_owned(),
    ));
    let current = match config.spawner.kind {
        crate::config::SpawnerChoice::Docker => SpawnerKind::Docker,
        crate::config::SpawnerChoice::Local => SpawnerKind::Local,
    };
    Spawners::new(current, vec![docker, local])
}

/// The configured spawner as JupyterHub's `/hub/api/info` names its class.
pub fn class_name(config: &Config) -> &'static str {
    match config.spawner.kind {
        crate::config::SpawnerChoice::Docker => "ganymede.DockerSpawner",
        crate::config::SpawnerChoice::Local => "ganymede.LocalProcessSpawner",
    }
}

impl crate::error::Classify for SpawnError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::{ErrorClass as C, UNAVAILABLE_RETRY_SECONDS};
        match self {
            SpawnError::BadState(_) | SpawnError::NoSuchSpawner(_) => C::Internal,
            // The engine or the workload failed: nothing the request could have done otherwise.
            SpawnError::EngineUnavailable(_)
            | SpawnError::ImageMissing(_)
            | SpawnError::Timeout(_)
            | SpawnError::OutOfMemory
            | SpawnError::Exited(_)
            | SpawnError::Engine(_)
            | SpawnError::Process(_)
            | SpawnError::Egress(_) => C::Unavailable { retry_after_seconds: UNAVAILABLE_RETRY_SECONDS },
        }
    }
}

#[cfg(test)]
mod class_name_tests {
    use super::*;

    #[test]
    fn info_names_the_configured_spawner() {
        let mut config = Config::default();
        assert_eq!(class_name(&config), "ganymede.DockerSpawner");
        config.spawner.kind = crate::config::SpawnerChoice::Local;
        assert_eq!(class_name(&config), "ganymede.LocalProcessSpawner");
    }
}
