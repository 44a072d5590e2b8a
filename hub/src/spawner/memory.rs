//! An in-memory spawner for the lifecycle's unit tests: workloads are entries in a map, and a
//! tiny HTTP listener on 127.0.0.1 plays Jupyter (it answers 200 to everything). Tests script
//! its failures: a start that fails, hangs or exits at once, a stop that fails or is slow.
//! It never stands in for a real engine in integration or browser tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    ProgressSink, ProgressStep, ServerStatus, SpawnError, SpawnSpec, Spawner, SpawnerKind, Started, Upstream,
    Workload, WorkloadState,
};
use crate::domain::{ServerName, UserName};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Key {
    user: String,
    server: String,
}

/// What the next calls do.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// `start` creates the workload, then fails with this.
    pub start_fails: Option<SpawnError>,
    /// `start` creates the workload and never returns.
    pub start_hangs: bool,
    /// `start` takes this long.
    pub start_delay: Duration,
    /// The workload exits (code 1) as soon as it has started.
    pub exits_after_start: bool,
    /// `stop` fails with this (the workload keeps running).
    pub stop_fails: Option<SpawnError>,
    /// `stop` takes this long.
    pub stop_delay: Duration,
    /// `workloads` takes this long before it looks (as an engine's listing takes time).
    pub list_delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fake {
    Running,
    Exited(i64),
}

#[derive(Default)]
struct State {
    script: Script,
    workloads: BTreeMap<Key, Fake>,
    starts: usize,
    stops: usize,
    usages: usize,
}

pub struct MemorySpawner {
    state: Mutex<State>,
    jupyter: SocketAddr,
}

impl MemorySpawner {
    /// Binds the fake Jupyter on a random port.
    pub async fn new() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds 127.0.0.1");
        let jupyter = listener.local_addr().expect("has an address");
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = tcp.read(&mut buf).await;
                    let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
                });
            }
        });
        Arc::new(Self { state: Mutex::new(State::default()), jupyter })
    }

    pub fn script(&self, script: Script) {
        self.with(|s| s.script = script);
    }

    /// The workloads that exist now, as `user/server`.
    pub fn existing(&self) -> Vec<String> {
        self.with(|s| s.workloads.keys().map(|k| format!("{}/{}", k.user, k.server)).collect())
    }

    pub fn set(&self, user: &str, server: &str, fake: Option<Fake>) {
        let key = Key { user: user.into(), server: server.into() };
        self.with(|s| match fake {
            Some(f) => {
                s.workloads.insert(key, f);
            }
            None => {
                s.workloads.remove(&key);
            }
        });
    }

    pub fn calls(&self) -> (usize, usize) {
        self.with(|s| (s.starts, s.stops))
    }

    /// How many times `usage` was asked.
    pub fn usage_calls(&self) -> usize {
        self.with(|s| s.usages)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    fn upstream(&self) -> Upstream {
        Upstream::http(self.jupyter.ip(), self.jupyter.port())
    }

    fn key(state: &WorkloadState) -> Result<Key, SpawnError> {
        state.decode(SpawnerKind::Memory, 1)
    }

    pub fn state_of(user: &str, server: &str) -> WorkloadState {
        WorkloadState::new(SpawnerKind::Memory, 1, Key { user: user.into(), server: server.into() })
    }
}

#[async_trait]
impl Spawner for MemorySpawner {
    fn kind(&self) -> SpawnerKind {
        SpawnerKind::Memory
    }

    fn planned_state(&self, user: &UserName, server: &ServerName) -> WorkloadState {
        Self::state_of(user.as_str(), server.as_str())
    }

    async fn start(&self, spec: &SpawnSpec, progress: ProgressSink<'_>) -> Result<Started, SpawnError> {
        let key = Key { user: spec.user.to_string(), server: spec.server.to_string() };
        let script = self.with(|s| {
            s.starts += 1;
            s.workloads.insert(key.clone(), Fake::Running);
            s.script.clone()
        });
        progress(ProgressStep::new(40, "Workload created"));
        tokio::time::sleep(script.start_delay).await;
        if script.start_hangs {
            std::future::pending::<()>().await;
        }
        if let Some(e) = script.start_fails {
            return Err(e);
        }
        let mut upstream = self.upstream();
        if script.exits_after_start {
            self.with(|s| s.workloads.insert(key.clone(), Fake::Exited(1)));
            // Nothing answers where it was to listen.
            let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
            upstream = Upstream::http(upstream.host, closed.map(|a| a.port()).unwrap_or(9));
        }
        Ok(Started { upstream, state: WorkloadState::new(SpawnerKind::Memory, 1, key) })
    }

    async fn stop(&self, state: &WorkloadState) -> Result<(), SpawnError> {
        let key = Self::key(state)?;
        let script = self.with(|s| {
            s.stops += 1;
            s.script.clone()
        });
        tokio::time::sleep(script.stop_delay).await;
        if let Some(e) = script.stop_fails {
            return Err(e);
        }
        self.with(|s| s.workloads.remove(&key));
        Ok(())
    }

    async fn poll(&self, state: &WorkloadState) -> Result<ServerStatus, SpawnError> {
        let key = Self::key(state)?;
        Ok(match self.with(|s| s.workloads.get(&key).copied()) {
            Some(Fake::Running) => ServerStatus::Running { upstream: Some(self.upstream()) },
            Some(Fake::Exited(code)) => ServerStatus::Exited { code, oom_killed: false },
            None => ServerStatus::Missing,
        })
    }

    async fn remove_home(&self, _user: &UserName) -> Result<(), SpawnError> {
        Ok(())
    }

    async fn usage(&self, state: &WorkloadState) -> Result<Option<super::Usage>, SpawnError> {
        let key = Self::key(state)?;
        Ok(self.with(|s| {
            s.usages += 1;
            s.workloads.get(&key).filter(|f| **f == Fake::Running).map(|_| super::Usage {
                cpu_percent: 12.5,
                memory_bytes: 256 * 1024 * 1024,
                memory_limit_bytes: Some(1024 * 1024 * 1024),
            })
        }))
    }

    async fn workloads(&self) -> Result<Vec<Workload>, SpawnError> {
        let delay = self.with(|s| s.script.list_delay);
        tokio::time::sleep(delay).await;
        Ok(self.with(|s| {
            s.workloads
                .iter()
                .map(|(k, f)| Workload {
                    user: k.user.clone(),
                    server: k.server.clone(),
                    state: WorkloadState::new(SpawnerKind::Memory, 1, k),
                    running: *f == Fake::Running,
                })
                .collect()
        }))
    }
}
