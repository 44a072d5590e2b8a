//! The local spawner: one `jupyter lab` process group per (user, server) on the hub's machine,
//! like JupyterHub's LocalProcessSpawner. Each server has a state directory
//! `{hub.data_dir}/local-servers/{user}/{server or "_default"}` holding its log, a pid file (pid
//! and the kernel's start time of that pid, so a reused pid is never mistaken for it) and its
//! labels; a restarted hub finds and adopts the processes from there. Homes are
//! `{home_root}/{user}` and outlive servers.
//!
//! Sizes are enforced with cgroups v1 where the hub may create them (memory and CPU), else with
//! `RLIMIT_AS` (memory only); the progress messages and the log say which applied.
//!
//! Rooms: `records` (the state directory: its files and the scan that finds them), `process`
//! (process identities, `/proc`, signals), `cgroups` (limits), `accounts` (system accounts for
//! `user_mapping = "system"`), `command` (building and starting `jupyter lab`).

mod accounts;
mod cgroups;
mod command;
mod process;
mod records;

use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{
    ProgressSink, ProgressStep, ServerStatus, SpawnError, SpawnSpec, Spawner, SpawnerKind, Started, Upstream,
    Workload, WorkloadState,
};
use crate::config::{LocalConfig, LocalLimits, UserMapping};
use crate::domain::{ServerName, UserName};

use process::{descendants, read_stat, signal_group, signal_process};
pub use process::{parse_stat, ProcessId, Stat};
use records::{
    exit_code_of, read_labels, read_pid_file, scan_workloads, Labels, ProcessRef, DEFAULT_SERVER_DIR,
    EXIT_FILE, LABELS_FILE, LOG_FILE, PID_FILE,
};

/// How long a stop waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn io_error(what: &str, path: &Path, e: io::Error) -> SpawnError {
    SpawnError::Process(format!("{what} {}: {e}", path.display()))
}

pub struct LocalSpawner {
    config: LocalConfig,
    data_dir: PathBuf,
    hub_id: String,
}

impl LocalSpawner {
    pub fn new(config: LocalConfig, data_dir: PathBuf, hub_id: String) -> Self {
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        Self { config, data_dir, hub_id }
    }

    fn servers_root(&self) -> PathBuf {
        self.data_dir.join("local-servers")
    }

    fn state_dir(&self, user: &UserName, server: &ServerName) -> PathBuf {
        let server = if server.is_default() { DEFAULT_SERVER_DIR } else { server.as_str() };
        self.servers_root().join(user.as_str()).join(server)
    }

    pub fn home_root(&self) -> PathBuf {
        if self.config.home_root.is_empty() {
            self.data_dir.join("homes")
        } else {
            PathBuf::from(&self.config.home_root)
        }
    }

    pub fn home(&self, user: &UserName) -> PathBuf {
        self.home_root().join(user.as_str())
    }

    /// Stops what runs from `dir` (its process group, and the kernels Jupyter started in their
    /// own sessions) and removes the directory and the cgroups.
    async fn stop_dir(&self, dir: &Path) -> Result<(), SpawnError> {
        if let Some(id) = read_pid_file(dir) {
            if id.alive() {
                let pid = id.pid;
                let children = blocking(move || descendants(pid)).await.unwrap_or_default();
                signal_group(id.pid, libc::SIGTERM);
                let deadline = tokio::time::Instant::now() + STOP_GRACE;
                while (id.alive() || children.iter().any(ProcessId::alive))
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                signal_group(id.pid, libc::SIGKILL);
                for child in &children {
                    signal_process(child, libc::SIGKILL);
                }
                for _ in 0..50 {
                    if !id.alive() && !signal_group(id.pid, 0) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        self.remove_cgroups(dir).await;
        if let Some(code) = exit_code_of(&dir.join(EXIT_FILE)).filter(|c| *c != 0) {
            // The log goes with the directory: keep its end where the admin looks.
            let log = tokio::fs::read_to_string(dir.join(LOG_FILE)).await.unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
            warn!(dir = %dir.display(), code, log = %tail.join("\n"), "jupyter lab had exited with an error");
        }
        match tokio::fs::remove_dir_all(dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing", dir, e)),
        }
    }

    /// Only directories below this spawner's own root are touched, whatever a state says.
    fn checked_dir(&self, state: &WorkloadState) -> Result<PathBuf, SpawnError> {
        let dir = ProcessRef::of(state)?.dir;
        let root = self.servers_root();
        let inside = dir.strip_prefix(&root).is_ok_and(|rel| {
            rel.components().count() == 2
                && rel.components().all(|c| matches!(c, std::path::Component::Normal(_)))
        });
        if inside {
            Ok(dir)
        } else {
            Err(SpawnError::BadState(format!("{} is not below {}", dir.display(), root.display())))
        }
    }
}

/// Runs blocking work (the `/proc` scan, NSS lookups, waits on the kernel) on the blocking pool,
/// never on the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, SpawnError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SpawnError::Process(format!("a blocking task failed: {e}")))
}

#[async_trait]
impl Spawner for LocalSpawner {
    fn kind(&self) -> SpawnerKind {
        SpawnerKind::Local
    }

    fn planned_state(&self, user: &UserName, server: &ServerName) -> WorkloadState {
        ProcessRef { dir: self.state_dir(user, server) }.state()
    }

    #[tracing::instrument(skip_all, fields(user.name = %spec.user, server.name = %spec.server))]
    async fn start(&self, spec: &SpawnSpec, progress: ProgressSink<'_>) -> Result<Started, SpawnError> {
        let dir = self.state_dir(&spec.user, &spec.server);
        let outcome = self.start_inner(spec, progress, &dir).await;
        match &outcome {
            Ok(_) => info!("jupyter lab process started"),
            Err(_) => {
                if let Err(e) = self.stop_dir(&dir).await {
                    warn!(error = %e, "cleaning up a failed local start failed");
                }
            }
        }
        outcome
    }

    async fn stop(&self, state: &WorkloadState) -> Result<(), SpawnError> {
        let dir = self.checked_dir(state)?;
        self.stop_dir(&dir).await
    }

    async fn logs(&self, state: &WorkloadState, lines: usize) -> Result<Option<String>, SpawnError> {
        let path = self.checked_dir(state)?.join(LOG_FILE);
        blocking(move || {
            let text = std::fs::read(&path).ok()?;
            let text = String::from_utf8_lossy(&text);
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            Some(tail.into_iter().rev().collect::<Vec<_>>().join("\n") + "\n")
        })
        .await
    }

    async fn poll(&self, state: &WorkloadState) -> Result<ServerStatus, SpawnError> {
        let dir = self.checked_dir(state)?;
        let Some(id) = read_pid_file(&dir) else {
            return Ok(ServerStatus::Missing);
        };
        if id.alive() {
            let upstream = read_labels(&dir).map(|l| Upstream::http(IpAddr::V4(Ipv4Addr::LOCALHOST), l.port));
            return Ok(ServerStatus::Running { upstream });
        }
        Ok(match exit_code_of(&dir.join(EXIT_FILE)) {
            Some(code) => ServerStatus::Exited { code, oom_killed: false },
            None => ServerStatus::Missing,
        })
    }

    async fn remove_home(&self, user: &UserName) -> Result<(), SpawnError> {
        let home = self.home(user);
        match tokio::fs::remove_dir_all(&home).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing", &home, e)),
        }
    }

    async fn workloads(&self) -> Result<Vec<Workload>, SpawnError> {
        let (root, hub_id) = (self.servers_root(), self.hub_id.clone());
        blocking(move || scan_workloads(&root, &hub_id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (jupyter (lab) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat, Stat { state: 'S', ppid: 1, start_time: 987654 });
        assert_eq!(parse_stat("12 (short) S 1"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn this_process_has_a_start_time() {
        let me = i32::try_from(std::process::id()).unwrap();
        let stat = read_stat(me).unwrap();
        assert!(ProcessId { pid: me, start_time: stat.start_time }.alive());
        assert!(!ProcessId { pid: me, start_time: stat.start_time + 1 }.alive());
    }

    #[test]
    fn pid_files_round_trip_and_junk_is_refused() {
        let id = ProcessId { pid: 31337, start_time: 123456789 };
        assert_eq!(ProcessId::parse(&id.render()), Some(id));
        for junk in ["", "12", "x 1", "12 y", "1 5", "-4 5", "12 5 6"] {
            assert_eq!(ProcessId::parse(junk), None, "{junk:?}");
        }
    }

    fn spawner(data: &Path) -> LocalSpawner {
        LocalSpawner::new(LocalConfig::default(), data.to_owned(), "hub-1".into())
    }

    #[test]
    fn planned_states_name_a_deterministic_directory_and_foreign_paths_are_refused() {
        let data = tempfile::tempdir().unwrap();
        let s = spawner(data.path());
        let alice = UserName::parse("alice").unwrap();
        let planned = s.planned_state(&alice, &ServerName::default_server());
        assert_eq!(s.checked_dir(&planned).unwrap(), data.path().join("local-servers/alice/_default"));
        assert_eq!(planned, s.planned_state(&alice, &ServerName::default_server()));
        for dir in ["/etc", "/tmp/x/local-servers/alice/_default"] {
            let foreign = ProcessRef { dir: dir.into() }.state();
            assert!(matches!(s.checked_dir(&foreign), Err(SpawnError::BadState(_))));
        }
        let up = ProcessRef { dir: data.path().join("local-servers/alice/../../x") }.state();
        assert!(s.checked_dir(&up).is_err());
        assert_eq!(s.home(&alice), data.path().join("homes/alice"));
    }

    #[tokio::test]
    async fn stopping_what_is_gone_succeeds_and_polls_say_missing() {
        let data = tempfile::tempdir().unwrap();
        let s = spawner(data.path());
        let planned = s.planned_state(&UserName::parse("bob").unwrap(), &ServerName::default_server());
        assert_eq!(s.poll(&planned).await.unwrap(), ServerStatus::Missing);
        s.stop(&planned).await.unwrap();
        assert!(s.workloads().await.unwrap().is_empty());
        s.remove_home(&UserName::parse("bob").unwrap()).await.unwrap();
    }
}
