//! Starting a server: the claim ([`transitions::begin_start`]), the spawn in the background, the
//! wait for Jupyter within `servers.start_timeout_seconds`, and the transition that records how
//! it ended.

use super::*;
use crate::metrics::{spawn_reason, SpawnStatus};

/// Begins starting `server` for `user` with the chosen flavour and size; returns at once.
/// `actor` is who asked (the owner, an admin, or `None` for the hub itself): the audit log names them.
#[tracing::instrument(skip(hub, user), fields(user.name = %user.name, server.name = %server))]
pub async fn start(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    requested: Requested,
) -> Result<StartOutcome, ServerError> {
    let remembered = db::servers::get(hub.db(), user.id, server).await?.and_then(|r| r.flavour.zip(r.size));
    let inventory = hub.gpus().snapshot();
    let (flavour, size) = catalogue::choose(hub.config(), &inventory, requested, remembered)?;
    let launch = catalogue::resolve(hub.config(), &inventory, &flavour, &size)?;
    if !server.is_default() && hub.config().servers.named_servers_limit == 0 {
        return Err(ServerError::NamedServersDisabled);
    }
    let spawner = hub.spawners().current()?;
    let nonce = SecretToken::generate().expose().to_owned();
    // The workload is recorded before it exists: a hub killed mid-start finds it again.
    let planned = StoredWorkload { workload: spawner.planned_state(&user.name, server), token_nonce: nonce };
    let (server_id, gpus) =
        match transitions::begin_start(hub, actor, user.id, server, &launch, spawner.kind(), &planned).await?
        {
            StartClaim::Claimed { server_id, gpus } => (server_id, gpus),
            StartClaim::Queued { server_id } => {
                hub.progress().begin(server_id);
                publish_queue_positions(hub).await;
                return Ok(StartOutcome::Queued);
            }
            StartClaim::AlreadyRunning => return Ok(StartOutcome::AlreadyRunning),
            StartClaim::AlreadyPending => {
                hub.metrics().spawn(SpawnStatus::Failure, spawn_reason::ALREADY_PENDING, Duration::ZERO);
                return Ok(StartOutcome::AlreadyPending);
            }
            StartClaim::Busy(state) => return Err(ServerError::Busy(state)),
        };
    let row = db::servers::by_id(hub.db(), server_id).await?.ok_or(ServerError::NotFound)?;
    hub.progress().begin(row.id);
    launch_start(hub, row, &launch, gpus, planned);
    Ok(StartOutcome::Started)
}

/// Carries out a claimed start in the background: the spawn spec from the launch and the
/// ledger's GPUs, then [`run_start`].
pub(super) fn launch_start(
    hub: &Hub,
    row: ServerRow,
    launch: &Launch,
    gpus: Vec<String>,
    planned: StoredWorkload,
) {
    hub.progress().publish(row.id, ProgressEvent::step(5, "Server requested"));
    let token = upstream_token(hub, &planned.token_nonce);
    let mut env: Vec<(String, String)> = match launch.flavour.kind {
        crate::config::FlavourKind::JupyterhubSingleuser => {
            singleuser::environment(hub, &row.user_name, &row.name, &token)
        }
        crate::config::FlavourKind::Jupyterlab => Vec::new(),
    };
    env.extend(launch.flavour.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let spec = SpawnSpec {
        user: row.user_name.clone(),
        server: row.name.clone(),
        image: launch.flavour.image.clone(),
        environment: launch.flavour.environment.as_ref().map(std::path::PathBuf::from),
        cpu: launch.size.cpu,
        memory_mib: launch.size.memory_mib,
        gpus,
        base_url: base_url(&row.user_name, &row.name),
        token: SecretToken::from_presented(&token),
        kind: launch.flavour.kind,
        cmd: launch.flavour.cmd.clone(),
        args: launch.flavour.args.clone(),
        env,
        run_as: launch.flavour.user.clone(),
    };
    let hub = hub.clone();
    tokio::spawn(async move {
        let _busy = hub.in_flight().hold(row.id);
        run_start(&hub, row, spec, planned).await;
    });
}

/// The spawner's start and the wait for Jupyter, within `servers.start_timeout_seconds`; then the
/// transition that records how it ended.
pub(super) async fn run_start(hub: &Hub, row: ServerRow, spec: SpawnSpec, planned: StoredWorkload) {
    let progress = hub.progress().clone();
    let server_id = row.id;
    let sink = move |step: ProgressStep| {
        progress.publish(server_id, ProgressEvent::step(step.progress, step.message))
    };
    let limit = Duration::from_secs(hub.config().servers.start_timeout_seconds);
    let began = std::time::Instant::now();
    let result = match spawner_of(hub, &row) {
        Ok(spawner) => match tokio::time::timeout(limit, start_and_wait(hub, spawner, &spec, &sink)).await {
            Ok(result) => result,
            Err(_) => Err(SpawnError::Timeout(limit.as_secs())),
        },
        Err(e) => Err(e),
    };
    let outcome: Result<(), (String, crate::spawner::WorkloadState)> = match result {
        Ok(started) => {
            let workload =
                StoredWorkload { workload: started.state.clone(), token_nonce: planned.token_nonce.clone() };
            match retry_db(|| transitions::mark_running(hub, &row, &started.upstream, &workload)).await {
                Ok(true) => {
                    hub.routes().add(
                        spec.user.as_str(),
                        spec.server.as_str(),
                        route_for(hub, &row, started.upstream, &workload),
                    );
                    info!(user.name = %spec.user, server.name = %spec.server, "server ready");
                    hub.metrics().spawn(SpawnStatus::Success, spawn_reason::NONE, began.elapsed());
                    hub.progress().publish(row.id, ProgressEvent::ready(spec.base_url.clone()));
                    return;
                }
                Ok(false) => Err(("The server was stopped while it started.".to_owned(), started.state)),
                Err(e) => Err((format!("the hub could not record the start: {e}"), started.state)),
            }
        }
        Err(e) => {
            let (status, reason) = match &e {
                SpawnError::Timeout(_) => (SpawnStatus::Failure, spawn_reason::TIMEOUT),
                SpawnError::Exited(_) | SpawnError::OutOfMemory => {
                    (SpawnStatus::Failure, spawn_reason::EXITED)
                }
                _ => (SpawnStatus::Error, spawn_reason::NONE),
            };
            hub.metrics().spawn(status, reason, began.elapsed());
            Err((e.to_string(), planned.workload.clone()))
        }
    };
    let Err((reason, workload)) = outcome else { return };
    warn!(user.name = %spec.user, server.name = %spec.server, reason = %reason, "server failed to start");
    // A start another process settled meanwhile (adopted or stopped it) is no longer ours to undo.
    match db::servers::by_id(hub.db(), row.id).await {
        Ok(Some(now))
            if now.state != ServerState::Pending || now.worker.as_deref() != Some(hub.instance_id()) =>
        {
            info!(server.id = row.id, state = %now.state, "the start was settled elsewhere meanwhile");
            return;
        }
        _ => {}
    }
    // What Jupyter said before it failed is kept for its owner (the workload goes next).
    let stored = StoredWorkload { workload: workload.clone(), token_nonce: planned.token_nonce.clone() };
    let log = logs::capture(hub, &row, &stored).await;
    // Nothing may stay behind: remove the workload (by its planned state too, if the spawner
    // was cut off before it said what it made), then settle the row.
    if let Ok(spawner) = spawner_of(hub, &row) {
        for state in [&workload, &planned.workload] {
            if let Err(e) = spawner.stop(state).await {
                warn!(error = %e, "removing the workload of a failed start failed; the sweep retries");
            }
        }
    }
    match retry_db(|| transitions::start_failed(hub, &row, &reason, "server.start_failed")).await {
        Ok(_) => {}
        Err(e) => warn!(error = %e, "recording a failed start failed; reconcile settles the row"),
    }
    if let Some(log) = log {
        logs::keep(hub, row.id, &log).await;
    }
    hub.progress().publish(row.id, ProgressEvent::failed(format!("Start failed: {reason}")));
}

/// The spawner's start, then polls until Jupyter answers (or the workload exits).
pub(super) async fn start_and_wait(
    hub: &Hub,
    spawner: &dyn Spawner,
    spec: &SpawnSpec,
    sink: &(dyn Fn(ProgressStep) + Send + Sync),
) -> Result<Started, SpawnError> {
    let started = spawner.start(spec, sink).await?;
    sink(ProgressStep::new(70, "Waiting for Jupyter to answer"));
    let http_timeout = Duration::from_secs(hub.config().servers.http_timeout_seconds);
    let deadline = tokio::time::Instant::now() + http_timeout;
    let mut upstream = started.upstream.clone();
    loop {
        if readiness::jupyter_answers(&upstream, &spec.base_url, spec.token.expose(), spec.kind).await {
            return Ok(Started { upstream, state: started.state });
        }
        match spawner.poll(&started.state).await {
            Ok(ServerStatus::Running { upstream: Some(now) }) => upstream = now,
            Ok(ServerStatus::Running { upstream: None } | ServerStatus::Restarting) => {}
            Ok(ServerStatus::Exited { oom_killed: true, .. }) => return Err(SpawnError::OutOfMemory),
            Ok(ServerStatus::Exited { code, .. }) => return Err(SpawnError::Exited(code)),
            Ok(ServerStatus::Missing) => return Err(SpawnError::Engine("the workload disappeared".into())),
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() > deadline {
            return Err(SpawnError::Timeout(http_timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A database write that must not be lost to a momentary error (a busy database): three tries.
pub(super) async fn retry_db<T, F, Fut>(mut f: F) -> Result<T, ServerError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ServerError>>,
{
    for attempt in 1..3u64 {
        match f().await {
            Err(ServerError::Unexpected(e)) => {
                warn!(attempt, error = %e, "a lifecycle write failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            done => return done,
        }
    }
    f().await
}
