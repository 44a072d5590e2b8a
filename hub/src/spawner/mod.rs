//! Starting and stopping notebook servers. The [`Spawner`] trait is the only thing the rest of the
//! hub knows; [`docker::DockerSpawner`] implements it on the Docker engine (Swarm and local
//! processes come later behind the same trait).

pub mod docker;
mod readiness;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{ServerName, UserName};
use crate::secret::SecretToken;

/// Everything a spawner needs to start one server.
#[derive(Debug)]
pub struct SpawnSpec {
    pub user: UserName,
    pub server: ServerName,
    pub image: String,
    pub cpu: f64,
    pub memory_mib: u64,
    pub gpus: u32,
    /// Jupyter's base URL, `/user/{name}/` or `/user/{name}/{server}/`.
    pub base_url: String,
    /// The token Jupyter accepts; only the hub knows it.
    pub token: SecretToken,
}

/// A started server: where the proxy forwards to, and what the spawner needs to find it again.
#[derive(Debug, Clone)]
pub struct Spawned {
    /// `http://127.0.0.1:{port}`: Jupyter's address, without the base URL.
    pub url: String,
    pub state: SpawnerState,
}

/// Persisted in `servers.spawner_state` (JSON) so a restarted hub can find the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnerState {
    pub container_id: Option<String>,
    pub container_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// Up; `url` is where it answers now (`None` while the engine has not published it yet). The
    /// address can change behind the hub's back (`docker restart` picks a new host port).
    Running {
        url: Option<String>,
    },
    /// The engine is restarting it: neither gone nor reachable.
    Restarting,
    Exited {
        code: i64,
        oom_killed: bool,
    },
    Missing,
}

/// A workload carrying this hub's labels, as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub user: String,
    pub server: String,
    pub state: SpawnerState,
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
}

#[async_trait]
pub trait Spawner: Send + Sync + 'static {
    /// Starts the server and waits until Jupyter answers over HTTP, reporting each step.
    /// On failure nothing is left running.
    async fn start(&self, spec: &SpawnSpec, progress: ProgressSink<'_>) -> Result<Spawned, SpawnError>;
    /// Stops the server and removes its container (the user's volume stays).
    async fn stop(&self, state: &SpawnerState) -> Result<(), SpawnError>;
    /// What the server is doing now.
    async fn poll(&self, state: &SpawnerState) -> Result<ServerStatus, SpawnError>;
    /// Removes what a user keeps between servers (their home volume). Their servers must be stopped.
    async fn remove_home(&self, user: &UserName) -> Result<(), SpawnError>;
    /// How the workload of (`user`, `server`) will be found, known before it is created: the hub
    /// records it first, so a hub killed mid-start can still find and remove what it made.
    fn planned_state(&self, user: &UserName, server: &ServerName) -> SpawnerState;
    /// Every workload that carries this hub's labels, running or not (orphans included).
    async fn workloads(&self) -> Result<Vec<Workload>, SpawnError>;
}
