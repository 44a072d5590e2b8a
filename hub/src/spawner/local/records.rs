//! A server's state directory: the files in it (pid, labels, exit code, log) and the scan that
//! finds this hub's servers again after a restart.

use super::*;

/// The version of [`ProcessRef`] in stored states.
pub(super) const STATE_VERSION: u32 = 1;
/// The state directory's name for the default server (server names cannot start with `_`).
pub(super) const DEFAULT_SERVER_DIR: &str = "_default";
pub(super) const PID_FILE: &str = "server.pid";
pub(super) const LABELS_FILE: &str = "labels.json";
pub(super) const EXIT_FILE: &str = "exit-code";
pub(super) const LOG_FILE: &str = "jupyter.log";

/// How a server's process is found again: its state directory (known before it starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ProcessRef {
    pub(super) dir: PathBuf,
}

impl ProcessRef {
    pub(super) fn state(&self) -> WorkloadState {
        WorkloadState::new(SpawnerKind::Local, STATE_VERSION, self)
    }

    pub(super) fn of(state: &WorkloadState) -> Result<Self, SpawnError> {
        state.decode(SpawnerKind::Local, STATE_VERSION)
    }
}

/// What `labels.json` holds: whose server this is, and where it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Labels {
    pub(super) hub: String,
    pub(super) user: String,
    pub(super) server: String,
    pub(super) port: u16,
}

pub(super) fn read_pid_file(dir: &Path) -> Option<ProcessId> {
    ProcessId::parse(&std::fs::read_to_string(dir.join(PID_FILE)).ok()?)
}

pub(super) fn read_labels(dir: &Path) -> Option<Labels> {
    serde_json::from_slice(&std::fs::read(dir.join(LABELS_FILE)).ok()?).ok()
}

pub(super) fn exit_code_of(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The servers' state directories below `root` that belong to hub `hub_id` (a directory scan and
/// small file reads: run it on the blocking pool).
pub(super) fn scan_workloads(root: &Path, hub_id: &str) -> Vec<Workload> {
    let mut found = Vec::new();
    let Ok(users) = std::fs::read_dir(root) else { return found };
    for user in users.flatten() {
        let Ok(servers) = std::fs::read_dir(user.path()) else { continue };
        for server in servers.flatten() {
            let dir = server.path();
            let labels = read_labels(&dir);
            let pid = read_pid_file(&dir);
            match labels {
                Some(l) if l.hub == hub_id => found.push(Workload {
                    user: l.user,
                    server: l.server,
                    running: pid.is_some_and(|p| p.alive()),
                    state: ProcessRef { dir }.state(),
                }),
                Some(_) => {}
                // Labels are written right after the process starts; a directory without them
                // is a start cut off early, named by its path.
                None => {
                    let (user_name, server_name) = (user.file_name(), server.file_name());
                    let (Some(u), Some(s)) = (user_name.to_str(), server_name.to_str()) else {
                        continue;
                    };
                    let s = if s == DEFAULT_SERVER_DIR { "" } else { s };
                    found.push(Workload {
                        user: u.to_owned(),
                        server: s.to_owned(),
                        running: pid.is_some_and(|p| p.alive()),
                        state: ProcessRef { dir }.state(),
                    });
                }
            }
        }
    }
    found
}
