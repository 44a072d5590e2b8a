//! Runs the managed services: each as a child process with the environment JupyterHub gives its
//! services, its output in the hub's log, started again when it exits (after a pause that grows
//! while it keeps failing). Each runs under its own lease (`service:NAME`), so when several hub
//! processes share a database exactly one of them runs it, and another takes over when that
//! process dies.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tracing::{info, warn, Instrument};

use super::Service;
use crate::config::ServiceKind;
use crate::db::leases;
use crate::Hub;

/// How long a service's lease lasts without renewal.
const LEASE_TTL: Duration = Duration::from_secs(60);
/// How often the holder renews it (and a waiting process tries to take it).
const LEASE_EVERY: Duration = Duration::from_secs(15);
/// The pause after the first failure; it doubles up to [`MAX_PAUSE`] while the service keeps
/// exiting within [`HEALTHY_RUN`] of its start.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Variables of the hub's own environment a service keeps (JupyterHub's `env_keep`).
const ENV_KEEP: &[&str] =
    &["PATH", "PYTHONPATH", "CONDA_ROOT", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "LANG", "LC_ALL"];

/// Runs every managed service until the hub stops (the returned task is aborted then; the
/// children are killed with it).
pub async fn run(hub: Hub, api_url: String) {
    let mut tasks = tokio::task::JoinSet::new();
    for service in hub.services().all().iter().filter(|s| s.kind() == ServiceKind::Managed) {
        let span = tracing::info_span!("service", service.name = %service.name());
        tasks.spawn(supervise(hub.clone(), Arc::clone(service), api_url.clone()).instrument(span));
    }
    while tasks.join_next().await.is_some() {}
}

fn lease_name(service: &Service) -> String {
    format!("service:{}", service.name())
}

async fn hold_lease(hub: &Hub, service: &Service) -> bool {
    let ttl = i64::try_from(LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
    let now = hub.clock().now_ms();
    let name = lease_name(service);
    let mut conn = match hub.db().acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            warn!(error = %e, "cannot reach the database to hold the service's lease");
            return false;
        }
    };
    // A runner killed on this host does not keep it until it expires.
    match crate::hub::take_lease(&mut conn, &name, hub.instance_id(), now, ttl).await {
        Ok(held) => held,
        Err(e) => {
            warn!(error = %e, "cannot hold the service's lease");
            false
        }
    }
}

async fn supervise(hub: Hub, service: Arc<Service>, api_url: String) {
    let mut pause = FIRST_PAUSE;
    loop {
        if !hold_lease(&hub, &service).await {
            tokio::time::sleep(LEASE_EVERY).await;
            continue;
        }
        let started = Instant::now();
        match start(&hub, &service, &api_url) {
            Ok(child) => {
                service.set_pid(child.id());
                let status = watch(&hub, &service, child).await;
                service.set_pid(None);
                match status {
                    Some(Ok(status)) => warn!(status = %status, "service exited; starting it again"),
                    Some(Err(e)) => warn!(error = %e, "waiting for the service failed; starting it again"),
                    // The lease went to another process: this one stopped the child.
                    None => {
                        warn!("another hub process holds the service's lease; stopped it here");
                        continue;
                    }
                }
            }
            Err(e) => warn!(error = %e, command = ?service.config.command, "service could not be started"),
        }
        pause = if started.elapsed() >= HEALTHY_RUN { FIRST_PAUSE } else { (pause * 2).min(MAX_PAUSE) };
        tokio::time::sleep(pause).await;
    }
}

/// Waits for the child to exit while renewing the lease; `None` when the lease was lost (the
/// child is killed then).
async fn watch(hub: &Hub, service: &Service, mut child: Child) -> Option<std::io::Result<ExitStatus>> {
    let mut renew = tokio::time::interval(LEASE_EVERY);
    renew.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => return Some(status),
            _ = renew.tick() => {
                if !hold_lease(hub, service).await {
                    let _ = child.kill().await;
                    return None;
                }
            }
        }
    }
}

/// The environment a service gets (JupyterHub's `Service` spawner: its API token and where the
/// API is, its name, prefix and OAuth client), under the configured `environment`.
pub fn environment(hub: &Hub, service: &Service, api_url: &str) -> Vec<(String, String)> {
    let token = service.token().map(|t| t.expose().to_owned()).unwrap_or_default();
    let prefix = service.config.prefix();
    let access = format!("[\"access:services!service={}\"]", service.name());
    let mut env: Vec<(String, String)> =
        ENV_KEEP.iter().filter_map(|key| std::env::var(key).ok().map(|v| ((*key).to_owned(), v))).collect();
    let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
    set("JUPYTERHUB_SERVICE_NAME", service.name().to_owned());
    set("JUPYTERHUB_API_TOKEN", token.clone());
    set("JPY_API_TOKEN", token);
    set("JUPYTERHUB_API_URL", api_url.to_owned());
    set("JUPYTERHUB_BASE_URL", "/".to_owned());
    set("JUPYTERHUB_SERVICE_PREFIX", prefix.clone());
    set("JUPYTERHUB_CLIENT_ID", service.config.client_id());
    set("JUPYTERHUB_OAUTH_CALLBACK_URL", format!("{prefix}oauth_callback"));
    set("JUPYTERHUB_OAUTH_SCOPES", access.clone());
    set("JUPYTERHUB_OAUTH_ACCESS_SCOPES", access);
    set("JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES", "[]".to_owned());
    if let Some(url) = &service.config.url {
        set("JUPYTERHUB_SERVICE_URL", url.clone());
    }
    if let Some(public) = &hub.config().hub.public_url {
        set("JUPYTERHUB_PUBLIC_URL", public.clone());
    }
    for (k, v) in &service.config.environment {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

fn start(hub: &Hub, service: &Service, api_url: &str) -> std::io::Result<Child> {
    let (program, args) = service
        .config
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"))?;
    let cwd = service.config.cwd.clone().unwrap_or_else(|| hub.config().hub.data_dir.clone());
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(environment(hub, service, api_url))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, and killed with the hub's handle on it.
        .process_group(0)
        .kill_on_drop(true);
    // A hub killed outright must not leave the service running beside the next hub's: the
    // kernel ends it when the hub goes.
    // SAFETY: between fork and exec the closure makes one async-signal-safe system call.
    #[cfg(target_os = "linux")]
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    info!(pid = child.id(), "service started");
    for (stream, name) in [
        (child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>), "stdout"),
        (child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>), "stderr"),
    ] {
        let Some(stream) = stream else { continue };
        let span = tracing::Span::current();
        tokio::spawn(
            async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    info!(stream = name, "{line}");
                }
            }
            .instrument(span),
        );
    }
    Ok(child)
}

/// Gives the leases of the services this process runs back (a clean shutdown).
pub async fn release_leases(hub: &Hub) -> Result<(), sqlx::Error> {
    let mut conn = hub.db().acquire().await?;
    for service in hub.services().all() {
        leases::release(&mut conn, &lease_name(service), hub.instance_id()).await?;
    }
    Ok(())
}
