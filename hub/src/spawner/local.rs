//! The local spawner: one `jupyter lab` process group per (user, server) on the hub's machine,
//! like JupyterHub's LocalProcessSpawner. Each server has a state directory
//! `{hub.data_dir}/local-servers/{user}/{server or "_default"}` holding its log, a pid file (pid
//! and the kernel's start time of that pid, so a reused pid is never mistaken for it) and its
//! labels; a restarted hub finds and adopts the processes from there. Homes are
//! `{home_root}/{user}` and outlive servers.
//!
//! Sizes are enforced with cgroups v1 where the hub may create them (memory and CPU), else with
//! `RLIMIT_AS` (memory only); the progress messages and the log say which applied.

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

/// The version of [`ProcessRef`] in stored states.
const STATE_VERSION: u32 = 1;
/// The state directory's name for the default server (server names cannot start with `_`).
const DEFAULT_SERVER_DIR: &str = "_default";
const PID_FILE: &str = "server.pid";
const LABELS_FILE: &str = "labels.json";
const EXIT_FILE: &str = "exit-code";
const LOG_FILE: &str = "jupyter.log";
/// How long a stop waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How a server's process is found again: its state directory (known before it starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ProcessRef {
    dir: PathBuf,
}

impl ProcessRef {
    fn state(&self) -> WorkloadState {
        WorkloadState::new(SpawnerKind::Local, STATE_VERSION, self)
    }

    fn of(state: &WorkloadState) -> Result<Self, SpawnError> {
        state.decode(SpawnerKind::Local, STATE_VERSION)
    }
}

/// What `labels.json` holds: whose server this is, and where it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Labels {
    hub: String,
    user: String,
    server: String,
    port: u16,
}

/// A process identity: the pid and its start time (clock ticks since boot, `/proc/PID/stat`
/// field 22), so that a pid the kernel has reused is not taken for ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessId {
    /// Parses a pid file: `PID START_TIME`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let pid: i32 = parts.next()?.parse().ok()?;
        let start_time = parts.next()?.parse().ok()?;
        (pid > 1 && parts.next().is_none()).then_some(Self { pid, start_time })
    }

    fn render(&self) -> String {
        format!("{} {}\n", self.pid, self.start_time)
    }

    /// Whether this very process still runs (not a zombie, not a reused pid).
    fn alive(&self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start_time == self.start_time && s.state != 'Z')
    }
}

/// The fields of `/proc/PID/stat` the spawner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub start_time: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat { state, ppid, start_time })
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every live process below `root` (children, their children, ...), with identities.
fn descendants(root: i32) -> Vec<ProcessId> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let all: Vec<(i32, Stat)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut out = Vec::new();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for (pid, stat) in &all {
            if stat.ppid == parent && !found.contains(pid) {
                found.push(*pid);
                out.push(ProcessId { pid: *pid, start_time: stat.start_time });
            }
        }
        i += 1;
    }
    out
}

fn signal_group(pgid: i32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is shared.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

fn signal_process(p: &ProcessId, signal: libc::c_int) {
    if p.alive() {
        // SAFETY: kill(2) on a pid whose start time was just checked.
        unsafe {
            libc::kill(p.pid, signal);
        }
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> SpawnError {
    SpawnError::Process(format!("{what} {}: {e}", path.display()))
}

/// The limits that applied to one start, for the progress message and the log.
#[derive(Debug, Default)]
struct AppliedLimits {
    /// cgroup.procs files the child joins before it runs Jupyter.
    cgroup_procs: Vec<PathBuf>,
    /// `RLIMIT_AS` in bytes.
    rlimit_as: Option<u64>,
    memory: &'static str,
    cpu: &'static str,
}

impl AppliedLimits {
    fn describe(&self) -> String {
        format!("Limits: memory {}, CPU {}", self.memory, self.cpu)
    }
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

    /// The cgroup of one server below each controller: `ganymede/{hub id}/{user}/{server}`.
    fn cgroup(&self, controller: &str, dir: &Path) -> PathBuf {
        let mut path =
            PathBuf::from(&self.config.cgroup_root).join(controller).join("ganymede").join(&self.hub_id);
        if let Ok(rel) = dir.strip_prefix(self.servers_root()) {
            path = path.join(rel);
        }
        path
    }

    /// Makes the server's cgroups (or picks the rlimit), as `spawner.local.limits` says.
    async fn prepare_limits(&self, spec: &SpawnSpec, dir: &Path) -> Result<AppliedLimits, SpawnError> {
        let memory_bytes = spec.memory_mib.saturating_mul(1024 * 1024);
        let mut applied = AppliedLimits { memory: "not limited", cpu: "not limited", ..Default::default() };
        if matches!(self.config.limits, LocalLimits::Auto | LocalLimits::Cgroup) {
            match self.make_cgroups(spec, dir, memory_bytes) {
                Ok(procs) => {
                    applied.cgroup_procs = procs;
                    applied.memory = "via cgroup";
                    applied.cpu = "via cgroup";
                    return Ok(applied);
                }
                Err(e) if self.config.limits == LocalLimits::Cgroup => {
                    return Err(SpawnError::Process(format!("cgroups: {e}")));
                }
                Err(e) => {
                    warn!(error = %e, "cgroups unavailable; memory via RLIMIT_AS, CPU not limited");
                    self.remove_cgroups(dir).await;
                }
            }
        }
        if matches!(self.config.limits, LocalLimits::Auto | LocalLimits::Rlimit) {
            applied.rlimit_as = Some(memory_bytes);
            applied.memory = "via RLIMIT_AS";
        }
        Ok(applied)
    }

    fn make_cgroups(&self, spec: &SpawnSpec, dir: &Path, memory_bytes: u64) -> io::Result<Vec<PathBuf>> {
        let memory = self.cgroup("memory", dir);
        std::fs::create_dir_all(&memory)?;
        std::fs::write(memory.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
        let cpu = self.cgroup("cpu", dir);
        std::fs::create_dir_all(&cpu)?;
        let period: u64 = 100_000;
        // At least 1 ms of quota per period (the kernel's minimum).
        let quota = ((spec.cpu * period as f64) as u64).max(1000);
        std::fs::write(cpu.join("cpu.cfs_period_us"), period.to_string())?;
        std::fs::write(cpu.join("cpu.cfs_quota_us"), quota.to_string())?;
        Ok(vec![memory.join("cgroup.procs"), cpu.join("cgroup.procs")])
    }

    /// Kills what is left in the server's cgroups, then removes them (off the async workers:
    /// members take a moment to leave after SIGKILL, and this waits for them).
    async fn remove_cgroups(&self, dir: &Path) {
        let top_of =
            |controller: &str| PathBuf::from(&self.config.cgroup_root).join(controller).join("ganymede");
        let groups: Vec<(PathBuf, PathBuf)> =
            ["memory", "cpu"].into_iter().map(|c| (self.cgroup(c, dir), top_of(c))).collect();
        if blocking(move || remove_cgroups_now(&groups)).await.is_err() {
            warn!(dir = %dir.display(), "removing the server's cgroups did not finish");
        }
    }

    /// The uid and gid to run as, creating the system account when configured.
    async fn account(&self, user: &UserName) -> Result<Option<(u32, u32)>, SpawnError> {
        if self.config.user_mapping == UserMapping::Hub {
            return Ok(None);
        }
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(SpawnError::Process(
                "spawner.local.user_mapping = \"system\" needs the hub to run as root".into(),
            ));
        }
        if let Some(ids) = find_account(user.as_str()).await? {
            return Ok(Some(ids));
        }
        if !self.config.create_system_users {
            return Err(SpawnError::Process(format!(
                "there is no system account {user} (set spawner.local.create_system_users = true to create it)"
            )));
        }
        let home = self.home(user);
        let out = tokio::process::Command::new("useradd")
            .arg("--no-create-home")
            .arg("--home-dir")
            .arg(&home)
            .arg("--shell")
            .arg("/bin/bash")
            .arg("--")
            .arg(user.as_str())
            .output()
            .await
            .map_err(|e| SpawnError::Process(format!("useradd: {e}")))?;
        if !out.status.success() {
            return Err(SpawnError::Process(format!(
                "useradd {user} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        info!(user.name = %user, "created the system account");
        find_account(user.as_str())
            .await?
            .map(Some)
            .ok_or_else(|| SpawnError::Process(format!("useradd made no account {user}")))
    }

    async fn start_inner(
        &self,
        spec: &SpawnSpec,
        progress: ProgressSink<'_>,
        dir: &Path,
    ) -> Result<Started, SpawnError> {
        let environment = spec
            .environment
            .as_deref()
            .ok_or_else(|| SpawnError::Process("the flavour names no environment".into()))?;
        let jupyter = environment.join("bin").join("jupyter");
        if !jupyter.is_file() {
            return Err(SpawnError::Process(format!("{} does not exist", jupyter.display())));
        }
        progress(ProgressStep::new(15, "Preparing the home directory"));
        let account = self.account(&spec.user).await?;
        let home = self.home(&spec.user);
        std::fs::create_dir_all(&home).map_err(|e| io_error("creating", &home, e))?;
        if let Some((uid, gid)) = account {
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).map_err(|e| io_error("chown", &home, e))?;
        }
        // A state directory left by a crashed start is stale: its process is gone or ours to stop.
        if dir.exists() {
            self.stop_dir(dir).await?;
        }
        std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;

        let port = free_port()?;
        let limits = self.prepare_limits(spec, dir).await?;
        progress(ProgressStep::new(30, limits.describe()));
        info!(memory = limits.memory, cpu = limits.cpu, port, "starting jupyter lab");

        let log_path = dir.join(LOG_FILE);
        let log = std::fs::File::create(&log_path).map_err(|e| io_error("creating", &log_path, e))?;
        let log_err = log.try_clone().map_err(|e| io_error("opening", &log_path, e))?;
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", environment.join("bin").display());
        let mut command = tokio::process::Command::new(&jupyter);
        command
            .arg("lab")
            .arg("--ip=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--no-browser")
            .arg(format!("--ServerApp.base_url={}", spec.base_url))
            .arg(format!("--ServerApp.root_dir={}", home.display()))
            // Only what Jupyter needs: the hub's own environment (its secrets) stays with the hub.
            .env_clear()
            .env("PATH", path)
            .env("HOME", &home)
            .env("USER", spec.user.as_str())
            .env("LANG", "C.UTF-8")
            .env("JUPYTER_TOKEN", spec.token.expose())
            .env("JUPYTERHUB_USER", spec.user.as_str())
            .current_dir(&home)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .kill_on_drop(false);
        // Exactly the ledger's GPUs, by UUID (CUDA accepts `GPU-…`/`MIG-…`); none: an empty
        // CUDA list and `void`, so nothing the process inherits widens it.
        let visible = if spec.gpus.is_empty() { "void".to_owned() } else { spec.gpus.join(",") };
        // The flavour's own variables (config validation keeps NVIDIA_/CUDA_/JUPYTERHUB_ out).
        command.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
            .env("CUDA_VISIBLE_DEVICES", if spec.gpus.is_empty() { "" } else { visible.as_str() })
            .env("NVIDIA_VISIBLE_DEVICES", &visible);
        // Jupyter refuses to run as root unless told; only the "hub" mapping of a root hub does.
        // SAFETY: geteuid(2) cannot fail.
        if account.is_none() && unsafe { libc::geteuid() } == 0 {
            command.arg("--allow-root");
        }
        if let Some((uid, gid)) = account {
            // std calls setgroups(0) when root drops to a uid without explicit groups.
            command.uid(uid).gid(gid);
        }
        let procs: Vec<CString> = limits
            .cgroup_procs
            .iter()
            .filter_map(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok())
            .collect();
        let rlimit_as = limits.rlimit_as;
        // SAFETY: between fork and exec the closure only makes async-signal-safe system calls
        // (open, write, close, setrlimit) on memory prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                for path in &procs {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // "0" is the writing process itself.
                    let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if written != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(bytes) = rlimit_as {
                    let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        progress(ProgressStep::new(45, "Starting jupyter lab"));
        let mut child = command.spawn().map_err(|e| io_error("running", &jupyter, e))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        let Some(pid) = pid else {
            return Err(SpawnError::Process("jupyter lab exited at once".into()));
        };
        let start_time = read_stat(pid).map(|s| s.start_time);
        let Some(start_time) = start_time else {
            let _ = child.wait().await;
            return Err(SpawnError::Exited(exit_code_of(&dir.join(EXIT_FILE)).unwrap_or(-1)));
        };
        let id = ProcessId { pid, start_time };
        let labels = Labels {
            hub: self.hub_id.clone(),
            user: spec.user.as_str().to_owned(),
            server: spec.server.as_str().to_owned(),
            port,
        };
        let written = serde_json::to_vec(&labels)
            .map_err(|e| SpawnError::Process(e.to_string()))
            .and_then(|json| {
                std::fs::write(dir.join(LABELS_FILE), json).map_err(|e| io_error("writing", dir, e))
            })
            .and_then(|()| {
                std::fs::write(dir.join(PID_FILE), id.render()).map_err(|e| io_error("writing", dir, e))
            });
        // The hub reaps its own children and records how they ended.
        let exit_file = dir.join(EXIT_FILE);
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                let code = status.code().map(i64::from).or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    status.signal().map(|s| 128 + i64::from(s))
                });
                if let (Some(code), Some(parent)) = (code, exit_file.parent()) {
                    if parent.exists() {
                        let _ = std::fs::write(&exit_file, code.to_string());
                    }
                }
            }
        });
        written?;
        Ok(Started {
            upstream: Upstream::http(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            state: ProcessRef { dir: dir.to_owned() }.state(),
        })
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

fn read_pid_file(dir: &Path) -> Option<ProcessId> {
    ProcessId::parse(&std::fs::read_to_string(dir.join(PID_FILE)).ok()?)
}

fn read_labels(dir: &Path) -> Option<Labels> {
    serde_json::from_slice(&std::fs::read(dir.join(LABELS_FILE)).ok()?).ok()
}

fn exit_code_of(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A port on 127.0.0.1 nobody listens on now (the kernel's pick; Jupyter binds it moments later).
fn free_port() -> Result<u16, SpawnError> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| SpawnError::Process(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| SpawnError::Process(format!("no free port: {e}")))
}

/// Runs blocking work (the `/proc` scan, NSS lookups, waits on the kernel) on the blocking pool,
/// never on the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, SpawnError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SpawnError::Process(format!("a blocking task failed: {e}")))
}

/// Kills what is left in each cgroup and removes it, then its parents up to `top` once empty.
fn remove_cgroups_now(groups: &[(PathBuf, PathBuf)]) {
    for (group, top) in groups {
        if let Ok(procs) = std::fs::read_to_string(group.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2); the pid is in this server's own cgroup.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        // Members take a moment to leave after SIGKILL.
        for _ in 0..20 {
            if std::fs::remove_dir(group).is_ok() || !group.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The user's and the hub's levels go once empty (rmdir refuses otherwise).
        let mut parent = group.parent();
        while let Some(p) = parent.filter(|p| p.starts_with(top) && *p != top.as_path()) {
            if std::fs::remove_dir(p).is_err() {
                break;
            }
            parent = p.parent();
        }
    }
}

/// [`lookup_account`] through NSS, on the blocking pool.
async fn find_account(name: &str) -> Result<Option<(u32, u32)>, SpawnError> {
    let name = name.to_owned();
    blocking(move || lookup_account(&name)).await?
}

/// The uid and gid of the system account `name`, if there is one.
fn lookup_account(name: &str) -> Result<Option<(u32, u32)>, SpawnError> {
    let c_name =
        CString::new(name).map_err(|_| SpawnError::Process(format!("{name:?} is no account name")))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes into `pwd` and `buf`, both owned here and large enough (it says
    // ERANGE otherwise).
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 {
        return Err(SpawnError::Process(format!("looking up {name}: {}", io::Error::from_raw_os_error(rc))));
    }
    if result.is_null() {
        return Ok(None);
    }
    Ok(Some((pwd.pw_uid, pwd.pw_gid)))
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

/// The servers' state directories below `root` that belong to hub `hub_id` (a directory scan and
/// small file reads: run it on the blocking pool).
fn scan_workloads(root: &Path, hub_id: &str) -> Vec<Workload> {
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
