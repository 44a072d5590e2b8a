//! Limits for a server's processes: cgroup v1 memory and CPU where the hub may make them, else
//! `RLIMIT_AS`; removal kills what is left and waits for the kernel, on the blocking pool.

use super::*;

/// The limits that applied to one start, for the progress message and the log.
#[derive(Debug, Default)]
pub(super) struct AppliedLimits {
    /// cgroup.procs files the child joins before it runs Jupyter.
    pub(super) cgroup_procs: Vec<PathBuf>,
    /// `RLIMIT_AS` in bytes.
    pub(super) rlimit_as: Option<u64>,
    pub(super) memory: &'static str,
    pub(super) cpu: &'static str,
}

impl AppliedLimits {
    pub(super) fn describe(&self) -> String {
        format!("Limits: memory {}, CPU {}", self.memory, self.cpu)
    }
}

impl LocalSpawner {
    /// The cgroup of one server below each controller: `ganymede/{hub id}/{user}/{server}`.
    pub(super) fn cgroup(&self, controller: &str, dir: &Path) -> PathBuf {
        let mut path =
            PathBuf::from(&self.config.cgroup_root).join(controller).join("ganymede").join(&self.hub_id);
        if let Ok(rel) = dir.strip_prefix(self.servers_root()) {
            path = path.join(rel);
        }
        path
    }

    /// Makes the server's cgroups (or picks the rlimit), as `spawner.local.limits` says.
    pub(super) async fn prepare_limits(
        &self,
        spec: &SpawnSpec,
        dir: &Path,
    ) -> Result<AppliedLimits, SpawnError> {
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

    pub(super) fn make_cgroups(
        &self,
        spec: &SpawnSpec,
        dir: &Path,
        memory_bytes: u64,
    ) -> io::Result<Vec<PathBuf>> {
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
    pub(super) async fn remove_cgroups(&self, dir: &Path) {
        let top_of =
            |controller: &str| PathBuf::from(&self.config.cgroup_root).join(controller).join("ganymede");
        let groups: Vec<(PathBuf, PathBuf)> =
            ["memory", "cpu"].into_iter().map(|c| (self.cgroup(c, dir), top_of(c))).collect();
        if blocking(move || remove_cgroups_now(&groups)).await.is_err() {
            warn!(dir = %dir.display(), "removing the server's cgroups did not finish");
        }
    }
}

/// Kills what is left in each cgroup and removes it, then its parents up to `top` once empty.
pub(super) fn remove_cgroups_now(groups: &[(PathBuf, PathBuf)]) {
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
