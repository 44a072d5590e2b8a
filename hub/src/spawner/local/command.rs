//! Starting `jupyter lab` or `jupyterhub-singleuser` (by the flavour's kind): the command line,
//! environment, limits, the account to run as, and the files that find the process again.

use super::*;
use crate::config::FlavourKind;

impl LocalSpawner {
    pub(super) async fn start_inner(
        &self,
        spec: &SpawnSpec,
        progress: ProgressSink<'_>,
        dir: &Path,
    ) -> Result<Started, SpawnError> {
        let environment = spec
            .environment
            .as_deref()
            .ok_or_else(|| SpawnError::Process("the flavour names no environment".into()))?;
        // Plain JupyterLab runs `jupyter lab`; a single-user server the contract's program.
        let jupyter = match spec.kind {
            FlavourKind::Jupyterlab => environment.join("bin").join("jupyter"),
            FlavourKind::JupyterhubSingleuser => environment.join("bin").join("jupyterhub-singleuser"),
        };
        if !jupyter.is_file() {
            let hint = match spec.kind {
                FlavourKind::Jupyterlab => "",
                FlavourKind::JupyterhubSingleuser => {
                    " (kind \"jupyterhub-singleuser\" needs `pip install jupyterhub` there)"
                }
            };
            return Err(SpawnError::Process(format!("{} does not exist{hint}", jupyter.display())));
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
        info!(memory = limits.memory, cpu = limits.cpu, port, program = %jupyter.display(), "starting the server");

        let log_path = dir.join(LOG_FILE);
        let log = std::fs::File::create(&log_path).map_err(|e| io_error("creating", &log_path, e))?;
        let log_err = log.try_clone().map_err(|e| io_error("opening", &log_path, e))?;
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", environment.join("bin").display());
        let mut command = tokio::process::Command::new(&jupyter);
        // Only what Jupyter needs: the hub's own environment (its secrets) stays with the hub.
        command
            .env_clear()
            .env("PATH", path)
            .env("HOME", &home)
            .env("USER", spec.user.as_str())
            .env("LANG", "C.UTF-8");
        match spec.kind {
            FlavourKind::Jupyterlab => {
                command
                    .arg("lab")
                    .arg("--ip=127.0.0.1")
                    .arg(format!("--port={port}"))
                    .arg("--no-browser")
                    .arg(format!("--ServerApp.base_url={}", spec.base_url))
                    .arg(format!("--ServerApp.root_dir={}", home.display()))
                    .env("JUPYTER_TOKEN", spec.token.expose())
                    .env("JUPYTERHUB_USER", spec.user.as_str());
            }
            // The contract's environment (in `spec.env`), with where this process listens: the
            // server reads its address and prefix from JUPYTERHUB_SERVICE_URL.
            FlavourKind::JupyterhubSingleuser => {
                command
                    .env("JUPYTERHUB_SERVICE_URL", format!("http://127.0.0.1:{port}{}", spec.base_url))
                    .env("JUPYTERHUB_ROOT_DIR", &home);
            }
        }
        command
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
        command.envs(
            spec.env
                .iter()
                .filter(|(k, _)| k != "JUPYTERHUB_SERVICE_URL" && k != "JUPYTERHUB_ROOT_DIR")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
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
        progress(ProgressStep::new(
            45,
            match spec.kind {
                FlavourKind::Jupyterlab => "Starting jupyter lab",
                FlavourKind::JupyterhubSingleuser => "Starting jupyterhub-singleuser",
            },
        ));
        let mut child = command.spawn().map_err(|e| io_error("running", &jupyter, e))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        let Some(pid) = pid else {
            return Err(SpawnError::Process(format!("{} exited at once", jupyter.display())));
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
}

/// A port on 127.0.0.1 nobody listens on now (the kernel's pick; Jupyter binds it moments later).
pub(super) fn free_port() -> Result<u16, SpawnError> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| SpawnError::Process(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| SpawnError::Process(format!("no free port: {e}")))
}
