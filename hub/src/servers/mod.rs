//! Server lifecycle: start (with progress), stop, delete, list, and reconciling the database
//! against the spawners. The database row's state is the source of truth; every change is one
//! transaction in [`transitions`], so concurrent requests for the same server are safe (one wins,
//! the others see it busy) and no row says stopped while its workload runs.

pub mod activity;
pub mod gpu_limits;
pub(crate) mod in_flight;
pub mod live_usage;
pub mod progress;
mod readiness;
pub mod routes;
pub mod singleuser;
pub mod state;
pub mod transitions;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::accounts::User;
pub use crate::catalogue::Requested;
use crate::catalogue::{self, Launch, LaunchError};
use crate::db::{self, events, leases, servers::BadRow, servers::ServerRow, servers::StoredWorkload};
use crate::domain::{ServerName, ServerNameError, UserName};
use crate::secret::SecretToken;
use crate::spawner::{
    ProgressStep, ServerStatus, SpawnError, SpawnSpec, Spawner, SpawnerKind, Started, Upstream,
};
use crate::Hub;
use progress::ProgressEvent;
use routes::Route;
pub use state::ServerState;
use transitions::StartClaim;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    InvalidName(#[from] ServerNameError),
    #[error("named servers are turned off on this hub")]
    NamedServersDisabled,
    #[error("you already have {0} named servers, the most allowed")]
    TooManyNamed(u32),
    #[error("there is no such server")]
    NotFound,
    #[error("the server is {0}; try again when it has finished")]
    Busy(ServerState),
    #[error("the server is {0}; stop it before changing it")]
    NotStopped(ServerState),
    #[error("nothing to change: give a new name or user_options")]
    NothingToChange,
    #[error("the default server cannot be renamed, and no server can be renamed to it")]
    DefaultNotRenamed,
    #[error("there is already a server named {0}")]
    NameTaken(String),
    #[error("too many servers are starting right now; try again in {retry_after_seconds} seconds")]
    TooManySpawns { retry_after_seconds: u64 },
    #[error("the hub is running as many servers as it may; try again later")]
    TooManyActive { retry_after_seconds: u64 },
    #[error(transparent)]
    GpuLimit(#[from] crate::gpus::limits::Refusal),
    #[error("no GPU session limit applies to this server, so there is nothing to extend")]
    NothingToExtend,
    #[error("others are waiting for GPUs, so the session cannot be extended")]
    OthersWaiting,
    #[error("the server could not be stopped and stays stopping; the hub retries: {0}")]
    StopFailed(SpawnError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    BadRow(#[from] BadRow),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Decode(inner) = &e {
            if let Some(bad) = inner.downcast_ref::<BadRow>() {
                return Self::BadRow(bad.clone());
            }
        }
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// A start began; follow its progress.
    Started,
    /// No suitable GPU is free: the server waits in the queue and starts by itself when its turn
    /// comes (its progress says its position).
    Queued,
    AlreadyPending,
    AlreadyRunning,
}

/// A server as pages and the API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub id: i64,
    pub name: ServerName,
    pub state: ServerState,
    pub flavour: Option<String>,
    pub size: Option<String>,
    /// `/user/{name}/…`: where the owner opens it.
    pub url: String,
    /// Why the last start or stop failed (a `stopping` server with an error is being retried).
    pub last_error: Option<String>,
    pub started_at: Option<i64>,
    pub last_activity: Option<i64>,
}

/// `/user/{name}/` or `/user/{name}/{server}/`.
pub fn base_url(user: &UserName, server: &ServerName) -> String {
    if server.is_default() {
        format!("/user/{user}/")
    } else {
        format!("/user/{user}/{server}/")
    }
}

/// The REST API's event stream of a start: `/hub/api/users/{name}/server/progress` for the default
/// server, `/hub/api/users/{name}/servers/{server}/progress` for a named one.
pub fn progress_url(user: &UserName, server: &ServerName) -> String {
    if server.is_default() {
        format!("/hub/api/users/{user}/server/progress")
    } else {
        format!("/hub/api/users/{user}/servers/{server}/progress")
    }
}

fn info_from(row: ServerRow) -> ServerInfo {
    ServerInfo {
        id: row.id,
        url: base_url(&row.user_name, &row.name),
        name: row.name,
        state: row.state,
        flavour: row.flavour,
        size: row.size,
        last_error: row.last_error,
        started_at: row.started_at,
        last_activity: row.last_activity,
    }
}

/// What one running server uses now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveServer {
    pub user: UserName,
    pub server: ServerName,
    /// CPU and memory as its spawner measures them (`None`: it cannot tell, or did not answer
    /// within 5 s).
    pub usage: Option<crate::spawner::Usage>,
    /// The units it holds.
    pub gpus: Vec<String>,
    /// Their last readings (none for a static inventory).
    pub gpu_readings: Vec<crate::gpus::readings::Reading>,
    /// Its GPU session's limits, if it holds GPUs.
    pub session: Option<gpu_limits::SessionNotice>,
}

/// What each of `user`'s running servers uses now: CPU and memory, GPUs and their utilization,
/// and when a GPU limit stops it.
pub async fn usage(hub: &Hub, user: &User) -> Result<Vec<LiveServer>, ServerError> {
    let rows = db::servers::for_user(hub.db(), user.id).await?;
    live(hub, rows.into_iter().filter(|r| r.state == ServerState::Running).collect()).await
}

/// The same for every running server (the admin's GPU page).
pub async fn usage_all(hub: &Hub) -> Result<Vec<LiveServer>, ServerError> {
    live(hub, rows_in(hub, ServerState::Running).await?).await
}

async fn live(hub: &Hub, rows: Vec<ServerRow>) -> Result<Vec<LiveServer>, ServerError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // What the background round last measured: no engine call per viewer.
        let usage = hub.live_usage().read(row.id);
        let gpus = crate::gpus::ledger::of_server(hub, row.id).await?;
        let readings = hub.gpus().readings();
        let gpu_readings = gpus.iter().filter_map(|u| readings.get(u)).collect();
        let session = if gpus.is_empty() { None } else { gpu_limits::notice(hub, row.id).await? };
        out.push(LiveServer { user: row.user_name, server: row.name, usage, gpus, gpu_readings, session });
    }
    Ok(out)
}

pub async fn list(hub: &Hub, user: &User) -> Result<Vec<ServerInfo>, ServerError> {
    Ok(db::servers::for_user(hub.db(), user.id).await?.into_iter().map(info_from).collect())
}

/// The servers and groups of a page of users, in two queries whatever the page size: what user
/// listings show. Keyed by user id.
pub async fn page_details(
    hub: &Hub,
    users: &[User],
) -> Result<std::collections::HashMap<i64, (Vec<ServerInfo>, Vec<String>)>, ServerError> {
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let mut out: std::collections::HashMap<i64, (Vec<ServerInfo>, Vec<String>)> =
        users.iter().map(|u| (u.id, (Vec::new(), Vec::new()))).collect();
    for row in db::servers::for_users(hub.db(), &ids).await? {
        match row {
            Ok(row) => out.entry(row.user_id).or_default().0.push(info_from(row)),
            // Left out of the listing, named in the log; the user's other servers and everyone
            // else's are listed as usual. Reading that user alone reports the error.
            Err(bad) => {
                tracing::error!(error = %bad, "a server row does not parse; left out of the user listing")
            }
        }
    }
    for (user_id, group) in db::groups::of_users(hub.db(), &ids).await? {
        out.entry(user_id).or_default().1.push(group);
    }
    Ok(out)
}

pub async fn get(hub: &Hub, user: &User, server: &ServerName) -> Result<Option<ServerInfo>, ServerError> {
    Ok(db::servers::get(hub.db(), user.id, server).await?.map(info_from))
}

/// The token Jupyter accepts for one start: derived from the hub's secret and a per-start nonce, so
/// the database never holds it.
pub(crate) fn upstream_token(hub: &Hub, nonce: &str) -> String {
    hex::encode(Sha256::digest(format!("{}:{nonce}", hub.secret()).as_bytes()))
}

fn route_for(hub: &Hub, row: &ServerRow, upstream: Upstream, workload: &StoredWorkload) -> Route {
    Route {
        server_id: row.id,
        user_id: row.user_id,
        upstream,
        token: (flavour_kind(hub, row) == crate::config::FlavourKind::Jupyterlab)
            .then(|| upstream_token(hub, &workload.token_nonce)),
    }
}

/// How a server's flavour starts (a flavour the config no longer has: the plain kind).
fn flavour_kind(hub: &Hub, row: &ServerRow) -> crate::config::FlavourKind {
    row.flavour
        .as_deref()
        .and_then(|id| hub.config().flavours.iter().find(|f| f.id == id))
        .map(|f| f.kind)
        .unwrap_or_default()
}

/// The spawner that started `row`'s workload (not necessarily the configured one).
fn spawner_of<'h>(hub: &'h Hub, row: &ServerRow) -> Result<&'h dyn Spawner, SpawnError> {
    let kind = match (&row.spawner_kind, &row.workload) {
        (Some(kind), _) => *kind,
        (None, Some(w)) => w.workload.kind,
        (None, None) => hub.spawners().current_kind(),
    };
    hub.spawners().of(kind)
}

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
            StartClaim::AlreadyPending => return Ok(StartOutcome::AlreadyPending),
            StartClaim::Busy(state) => return Err(ServerError::Busy(state)),
        };
    let row = db::servers::by_id(hub.db(), server_id).await?.ok_or(ServerError::NotFound)?;
    hub.progress().begin(row.id);
    launch_start(hub, row, &launch, gpus, planned);
    Ok(StartOutcome::Started)
}

/// Carries out a claimed start in the background: the spawn spec from the launch and the
/// ledger's GPUs, then [`run_start`].
fn launch_start(hub: &Hub, row: ServerRow, launch: &Launch, gpus: Vec<String>, planned: StoredWorkload) {
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

/// Gives queued servers their turn when GPUs are free (see [`transitions::take_turns`]), starts
/// them, and tells the rest their new positions. Called when GPUs are released, after a start
/// queues, and by reconcile (so a restarted hub picks the queue up).
pub async fn advance_queue(hub: &Hub) -> Result<usize, ServerError> {
    let spawner = hub.spawners().current()?;
    let plan = |row: &ServerRow| {
        let nonce = SecretToken::generate().expose().to_owned();
        Ok((
            spawner.kind(),
            StoredWorkload { workload: spawner.planned_state(&row.user_name, &row.name), token_nonce: nonce },
        ))
    };
    let turns = transitions::take_turns(hub, plan).await?;
    let started = turns.len();
    for turn in turns {
        info!(user.name = %turn.row.user_name, server.name = %turn.row.name, gpus = ?turn.gpus, "a queued server's turn came");
        hub.progress().ensure(turn.row.id);
        launch_start(hub, turn.row, &turn.launch, turn.gpus, turn.planned);
    }
    publish_queue_positions(hub).await;
    Ok(started)
}

/// [`advance_queue`] in the background (from a transition that released GPUs).
pub(crate) fn advance_queue_soon(hub: &Hub) {
    let hub = hub.clone();
    tokio::spawn(async move {
        if let Err(e) = advance_queue(&hub).await {
            warn!(error = %e, "advancing the GPU queue failed; reconcile retries");
        }
    });
}

/// Where one server stands in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlace {
    pub server_id: i64,
    pub user: UserName,
    pub server: ServerName,
    pub size: Option<String>,
    /// When it joined the queue.
    pub since: Option<i64>,
    /// 1 for the next to start.
    pub position: usize,
    pub length: usize,
    /// How long until its turn, from the running GPU sessions' deadlines (`None`: no estimate).
    pub estimated_wait_ms: Option<i64>,
}

/// The queue, in the order turns are given, each place with its estimated wait.
pub async fn queue(hub: &Hub) -> Result<Vec<QueuePlace>, ServerError> {
    let now = hub.clock().now_ms();
    let mut conn = hub.db().acquire().await?;
    let rows: Vec<ServerRow> =
        db::servers::queue(&mut conn).await?.into_iter().filter_map(Result::ok).collect();
    let sessions = db::gpu_sessions::open_sessions(&mut *conn).await?;
    let held: usize = sessions.iter().map(|s| s.uuids.len()).sum();
    let free_now = hub.gpus().snapshot().healthy().count().saturating_sub(held);
    let releases: Vec<(i64, u32)> = sessions
        .iter()
        .filter_map(|s| s.deadline_at.map(|at| (at, u32::try_from(s.uuids.len()).unwrap_or(0))))
        .collect();
    let units_of = |size: &Option<String>| {
        size.as_deref().and_then(|id| hub.config().sizes.iter().find(|s| s.id == id)).map_or(1, |s| s.gpus)
    };
    let length = rows.len();
    let mut ahead = 0;
    let mut places = Vec::with_capacity(length);
    for (i, row) in rows.into_iter().enumerate() {
        let own = units_of(&row.size);
        let wait = crate::gpus::limits::estimated_wait(
            &releases,
            u32::try_from(free_now).unwrap_or(u32::MAX),
            ahead,
            own,
            now,
        );
        ahead += own;
        places.push(QueuePlace {
            server_id: row.id,
            user: row.user_name,
            server: row.name,
            size: row.size,
            since: row.state_changed_at,
            position: i + 1,
            length,
            estimated_wait_ms: wait,
        });
    }
    Ok(places)
}

/// "about 25 min", "about 2 h 10 min", or "no estimate" (a GPU session without a time limit).
pub fn describe_wait(wait_ms: Option<i64>) -> String {
    match wait_ms {
        None => "no estimate: running GPU sessions have no time limit".to_owned(),
        Some(ms) => {
            let minutes = (ms + 59_999) / 60_000;
            match minutes {
                0 | 1 => "about a minute".to_owned(),
                m if m < 60 => format!("about {m} min"),
                m if m % 60 == 0 => format!("about {} h", m / 60),
                m => format!("about {} h {} min", m / 60, m % 60),
            }
        }
    }
}

/// Tells every queued server's progress page where it stands and how busy the GPUs are.
async fn publish_queue_positions(hub: &Hub) {
    let Ok(queue) = queue(hub).await else { return };
    let inventory = hub.gpus().snapshot();
    let held = crate::gpus::ledger::holdings(hub).await.map(|h| h.len()).unwrap_or(0);
    let total = inventory.healthy().count();
    for place in queue {
        hub.progress().ensure(place.server_id);
        hub.progress().publish(
            place.server_id,
            ProgressEvent::queued(
                place.position,
                format!(
                    "Waiting for a GPU: position {} of {} in the queue ({held} of {total} GPUs in use); estimated wait: {}",
                    place.position,
                    place.length,
                    describe_wait(place.estimated_wait_ms)
                ),
            ),
        );
    }
}

/// The spawner's start and the wait for Jupyter, within `servers.start_timeout_seconds`; then the
/// transition that records how it ended.
async fn run_start(hub: &Hub, row: ServerRow, spec: SpawnSpec, planned: StoredWorkload) {
    let progress = hub.progress().clone();
    let server_id = row.id;
    let sink = move |step: ProgressStep| {
        progress.publish(server_id, ProgressEvent::step(step.progress, step.message))
    };
    let limit = Duration::from_secs(hub.config().servers.start_timeout_seconds);
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
                    hub.progress().publish(row.id, ProgressEvent::ready(spec.base_url.clone()));
                    return;
                }
                Ok(false) => Err(("The server was stopped while it started.".to_owned(), started.state)),
                Err(e) => Err((format!("the hub could not record the start: {e}"), started.state)),
            }
        }
        Err(e) => Err((e.to_string(), planned.workload.clone())),
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
    hub.progress().publish(row.id, ProgressEvent::failed(format!("Start failed: {reason}")));
}

/// The spawner's start, then polls until Jupyter answers (or the workload exits).
async fn start_and_wait(
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
async fn retry_db<T, F, Fut>(mut f: F) -> Result<T, ServerError>
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

/// Stops a server and waits for its workload to be gone. Stopping a stopped server is a no-op;
/// stopping one whose earlier stop failed tries again. When the spawner refuses, the row stays
/// `stopping` with the error and [`ServerError::StopFailed`] comes back.
#[tracing::instrument(skip(hub, user), fields(user.name = %user.name, server.name = %server))]
pub async fn stop(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    let row = db::servers::get(hub.db(), user.id, server).await?.ok_or(ServerError::NotFound)?;
    match row.state {
        ServerState::Stopped => return Ok(()),
        ServerState::Running => {
            if !transitions::begin_stop(hub, actor, &row, None).await? {
                let now = db::servers::by_id(hub.db(), row.id).await?.map(|r| r.state);
                return Err(ServerError::Busy(now.unwrap_or(row.state)));
            }
        }
        ServerState::Stopping if hub.in_flight().contains(row.id) => {
            return Err(ServerError::Busy(row.state))
        }
        ServerState::Stopping => {}
        ServerState::Queued => {
            transitions::leave_queue(hub, actor, &row).await?;
            hub.progress().publish(row.id, ProgressEvent::failed("Left the queue."));
            return Ok(());
        }
        ServerState::Pending => return Err(ServerError::Busy(ServerState::Pending)),
    }
    let _busy = hub.in_flight().hold(row.id);
    hub.routes().remove(user.name.as_str(), server.as_str());
    carry_out_stop(hub, &row).await
}

/// Stops a running server for a reason of the hub's own (a GPU limit): the reason goes to the
/// audit log and, once stopped, to the server's `last_error`. False when it was not running.
pub(crate) async fn stop_because(hub: &Hub, row: &ServerRow, reason: &str) -> Result<bool, ServerError> {
    if !transitions::begin_stop(hub, None, row, Some(reason)).await? {
        return Ok(false);
    }
    let _busy = hub.in_flight().hold(row.id);
    hub.routes().remove(row.user_name.as_str(), row.name.as_str());
    carry_out_stop(hub, row).await?;
    Ok(true)
}

/// Asks the workload's spawner to stop it, then records the outcome: `stopped`, or `stopping`
/// with the error (retried by [`retry_stops`]).
async fn carry_out_stop(hub: &Hub, row: &ServerRow) -> Result<(), ServerError> {
    let result = match (spawner_of(hub, row), &row.workload) {
        (Ok(spawner), Some(w)) => spawner.stop(&w.workload).await,
        (Ok(_), None) => Ok(()),
        (Err(e), _) => Err(e),
    };
    match result {
        Ok(()) => {
            retry_db(|| transitions::finish_stop(hub, row)).await?;
            info!(user.name = %row.user_name, server.name = %row.name, "server stopped");
            Ok(())
        }
        Err(e) => {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "stopping failed; retried later");
            let message = e.to_string();
            retry_db(|| transitions::stop_failed(hub, row, &message)).await?;
            Err(ServerError::StopFailed(e))
        }
    }
}

/// Stops (when needed) and forgets a server. The user's home stays.
pub async fn delete(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    stop(hub, actor, user, server).await?;
    let row = db::servers::get(hub.db(), user.id, server).await?.ok_or(ServerError::NotFound)?;
    let mut tx = hub.db().begin().await?;
    if !db::servers::delete_stopped(&mut tx, row.id).await? {
        return Err(ServerError::Busy(row.state));
    }
    events::record(&mut *tx, actor, "server.delete", Some(&format!("{}/{}", user.name, server)), json!({}))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// How long a server that has just exited gets to come back before it counts as gone: `docker
/// restart` stops and starts the same workload, and a poll in between must not remove it.
const RESTART_GRACE: Duration = Duration::from_secs(3);

/// Checks one running server against its spawner: follows an address the engine changed (e.g.
/// after `docker restart`), routes it, or — when its workload is gone or has exited for good —
/// removes what is left and marks it stopped.
async fn check_running(hub: &Hub, row: &ServerRow) -> Result<(), ServerError> {
    let Some(workload) = &row.workload else { return Ok(()) };
    let spawner = spawner_of(hub, row)?;
    let mut status = spawner.poll(&workload.workload).await;
    if matches!(status, Ok(ServerStatus::Exited { .. })) {
        tokio::time::sleep(RESTART_GRACE).await;
        status = spawner.poll(&workload.workload).await;
    }
    match status {
        Ok(ServerStatus::Running { upstream }) => {
            let mut current = row.upstream.clone();
            if let Some(now) = upstream.filter(|u| row.upstream.as_ref() != Some(u)) {
                info!(user.name = %row.user_name, server.name = %row.name, old = ?row.upstream, new = %now,
                    "the server's address changed; following it");
                let mut conn = hub.db().acquire().await?;
                if !db::servers::set_upstream(&mut conn, row.id, &now).await? {
                    return Ok(()); // stopped meanwhile
                }
                current = Some(now);
            }
            let Some(upstream) = current else { return Ok(()) };
            let route = hub.routes().get(row.user_name.as_str(), row.name.as_str());
            if route.is_none_or(|r| r.upstream != upstream) {
                hub.routes().add(
                    row.user_name.as_str(),
                    row.name.as_str(),
                    route_for(hub, row, upstream, workload),
                );
            }
        }
        // Neither gone nor reachable: look again next time.
        Ok(ServerStatus::Restarting) => {}
        Ok(status) => {
            info!(user.name = %row.user_name, server.name = %row.name, ?status, "server is gone; marking it stopped");
            hub.routes().remove(row.user_name.as_str(), row.name.as_str());
            // Whatever is left of it goes first; a row never says stopped while its workload exists.
            spawner.stop(&workload.workload).await?;
            let reason = match status {
                ServerStatus::Exited { oom_killed: true, .. } => "the server ran out of memory".to_owned(),
                ServerStatus::Exited { code, .. } => format!("the server exited (code {code})"),
                _ => "the server's workload disappeared".to_owned(),
            };
            transitions::died(hub, row, &reason).await?;
        }
        // Engine down: keep the row as it is and look again next time.
        Err(e) => {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "cannot check a running server")
        }
    }
    Ok(())
}

/// Rows in `state`, logging (and skipping) those that do not parse.
async fn rows_in(hub: &Hub, state: ServerState) -> Result<Vec<ServerRow>, ServerError> {
    Ok(db::servers::in_state(hub.db(), state)
        .await?
        .into_iter()
        .filter_map(|r| r.map_err(|e| warn!(error = %e, "skipping a server row that does not parse")).ok())
        .collect())
}

/// Checks every server the database says is running (at start-up and periodically), so a server
/// that dies or moves is noticed without anyone asking.
pub async fn poll_running(hub: &Hub) -> Result<(), ServerError> {
    for row in rows_in(hub, ServerState::Running).await? {
        if let Err(e) = check_running(hub, &row).await {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "checking a running server failed");
        }
    }
    Ok(())
}

/// How often one server is checked at most because the proxy could not reach it.
const CHECK_DEBOUNCE: Duration = Duration::from_secs(5);

/// The proxy could not connect to `server_id`: checks that one server, at most once per
/// [`CHECK_DEBOUNCE`], in the background.
pub fn check_soon(hub: &Hub, server_id: i64) {
    if !hub.debounce().allow(server_id, CHECK_DEBOUNCE) {
        return;
    }
    let hub = hub.clone();
    tokio::spawn(async move {
        match db::servers::by_id(hub.db(), server_id).await {
            Ok(Some(row)) if row.state == ServerState::Running => {
                if let Err(e) = check_running(&hub, &row).await {
                    warn!(server.id = server_id, error = %e, "checking an unreachable server failed");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(server.id = server_id, error = %e, "cannot read an unreachable server's row"),
        }
    });
}

/// The lease reconcile runs under, and how long it holds.
const RECONCILE_LEASE: &str = "reconcile";
const RECONCILE_LEASE_TTL: Duration = Duration::from_secs(90);

/// How a reconcile went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// False when another hub process holds the lease (it reconciles instead).
    pub ran: bool,
    pub settled: usize,
    pub orphans_removed: usize,
}

/// Holds the database against every spawner in use, at start-up and periodically, under a lease
/// so that only one hub process does it: running servers are checked (and routed), starts and
/// stops whose process died are settled, failed stops are retried, and orphans are removed.
pub async fn reconcile(hub: &Hub) -> Result<Reconciled, ServerError> {
    let now = hub.clock().now_ms();
    let ttl = i64::try_from(RECONCILE_LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
    {
        let mut conn = hub.db().acquire().await?;
        if !leases::acquire(&mut conn, RECONCILE_LEASE, hub.instance_id(), now, ttl).await? {
            // A holder that is known to be dead (killed on this host) does not keep it.
            let dead = leases::holder(&mut conn, RECONCILE_LEASE)
                .await?
                .filter(|h| !crate::hub::Instance::may_live(h));
            let Some(dead) = dead else { return Ok(Reconciled::default()) };
            if !leases::take_from(&mut conn, RECONCILE_LEASE, &dead, hub.instance_id(), now, ttl).await? {
                return Ok(Reconciled::default());
            }
        }
    }
    // Routes of this process come from the database too (another replica may have started them).
    poll_running(hub).await?;
    let settled = settle_abandoned(hub).await?;
    // The ledger is held against the active rows: a claim without one is released.
    {
        let mut conn = hub.db().acquire().await?;
        let released = crate::db::gpu_claims::release_inactive(&mut conn).await?;
        if released > 0 {
            warn!(count = released, "GPU claims of servers that are not active were released");
        }
        let closed = crate::db::gpu_sessions::close_inactive(&mut conn, now).await?;
        if closed > 0 {
            warn!(count = closed, "GPU sessions of servers that are not active were closed");
        }
    }
    if let Err(e) = advance_queue(hub).await {
        warn!(error = %e, "advancing the GPU queue failed");
    }
    match gpu_limits::enforce(hub).await {
        Ok(done) if done != gpu_limits::Enforced::default() => {
            info!(warned = done.warned, stopped = done.stopped, "GPU limits enforced");
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "enforcing GPU limits failed"),
    }
    let orphans_removed = match sweep_orphans(hub).await {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "sweeping orphaned workloads failed");
            0
        }
    };
    Ok(Reconciled { ran: true, settled, orphans_removed })
}

/// Whether the process named as a row's worker still lives (its instance lease is current).
async fn worker_alive(hub: &Hub, worker: Option<&str>) -> Result<bool, ServerError> {
    let Some(worker) = worker else { return Ok(false) };
    if worker == hub.instance_id() {
        return Ok(true);
    }
    if !crate::hub::Instance::may_live(worker) {
        return Ok(false);
    }
    let mut conn = hub.db().acquire().await?;
    Ok(leases::is_held(&mut conn, &crate::hub::instance_lease(worker), hub.clock().now_ms()).await?)
}

/// Pending rows whose start died with its process: the workload is adopted when it answers
/// (pending → running), else removed (pending → stopped, with the reason). Stopping rows whose
/// process died, or whose stop failed and is due again, are stopped again.
async fn settle_abandoned(hub: &Hub) -> Result<usize, ServerError> {
    let mut settled = 0;
    for row in rows_in(hub, ServerState::Pending).await? {
        if hub.in_flight().contains(row.id) || worker_alive(hub, row.worker.as_deref()).await? {
            continue;
        }
        if !take_over(hub, &row).await? {
            continue;
        }
        let _busy = hub.in_flight().hold(row.id);
        if adopt_pending(hub, &row).await? {
            settled += 1;
            continue;
        }
        if let (Ok(spawner), Some(w)) = (spawner_of(hub, &row), &row.workload) {
            if let Err(e) = spawner.stop(&w.workload).await {
                warn!(user.name = %row.user_name, server.name = %row.name, error = %e,
                    "removing the workload of an interrupted start failed; retried next time");
                continue;
            }
        }
        let reason = "the hub stopped while the server was starting";
        transitions::start_failed(hub, &row, reason, "server.interrupted").await?;
        settled += 1;
    }
    let retry_ms =
        i64::try_from(hub.config().servers.stop_retry_seconds).unwrap_or(i64::MAX).saturating_mul(1000);
    let now = hub.clock().now_ms();
    for row in rows_in(hub, ServerState::Stopping).await? {
        if hub.in_flight().contains(row.id) {
            continue;
        }
        let abandoned = row.worker.is_some() && !worker_alive(hub, row.worker.as_deref()).await?;
        let due =
            row.worker.is_none() && row.state_changed_at.is_none_or(|t| now.saturating_sub(t) >= retry_ms);
        if !(abandoned || due) || !take_over(hub, &row).await? {
            continue;
        }
        let _busy = hub.in_flight().hold(row.id);
        hub.routes().remove(row.user_name.as_str(), row.name.as_str());
        if carry_out_stop(hub, &row).await.is_ok() {
            settled += 1;
        }
    }
    Ok(settled)
}

/// Makes this process the worker of a row another process abandoned; false when someone else
/// took it first.
async fn take_over(hub: &Hub, row: &ServerRow) -> Result<bool, ServerError> {
    let mut conn = hub.db().acquire().await?;
    Ok(db::servers::take_over(&mut conn, row.id, row.state, row.worker.as_deref(), hub.instance_id()).await?)
}

/// A pending row whose workload runs and answers becomes running (the start finished while no
/// hub was watching). False when it does not answer.
async fn adopt_pending(hub: &Hub, row: &ServerRow) -> Result<bool, ServerError> {
    let (Ok(spawner), Some(w)) = (spawner_of(hub, row), &row.workload) else { return Ok(false) };
    let Ok(ServerStatus::Running { upstream: Some(upstream) }) = spawner.poll(&w.workload).await else {
        return Ok(false);
    };
    let token = upstream_token(hub, &w.token_nonce);
    if !readiness::jupyter_answers(
        &upstream,
        &base_url(&row.user_name, &row.name),
        &token,
        flavour_kind(hub, row),
    )
    .await
    {
        return Ok(false);
    }
    if !transitions::mark_running(hub, row, &upstream, w).await? {
        return Ok(false);
    }
    info!(user.name = %row.user_name, server.name = %row.name, "adopted a server whose start outlived its hub");
    hub.routes().add(row.user_name.as_str(), row.name.as_str(), route_for(hub, row, upstream, w));
    Ok(true)
}

/// Removes every workload that carries this hub's labels but belongs to no server row that is
/// starting, running or stopping (a hub killed at the wrong moment, a row deleted behind its
/// back), for every spawner in use. Returns how many were removed.
pub async fn sweep_orphans(hub: &Hub) -> Result<usize, ServerError> {
    let current = hub.spawners().current_kind();
    // Which spawners to ask: the current one, and others only while rows they started live (a
    // hub that moved to local processes need not reach a Docker engine that is gone).
    let (live, _) = live_rows(hub).await?;
    let kinds: Vec<SpawnerKind> = hub
        .spawners()
        .kinds()
        .filter(|kind| *kind == current || live.iter().any(|r| r.spawner_kind == Some(*kind)))
        .collect();
    // List first, then read the rows: a start commits its row before it creates its workload,
    // so every workload listed here has its row in the second read. (Read first, a start that
    // committed in between would have its fresh workload swept.)
    let mut listed = Vec::new();
    for kind in kinds {
        let spawner = hub.spawners().of(kind)?;
        listed.push((kind, spawner.workloads().await?));
    }
    let (live, unreadable) = live_rows(hub).await?;
    let mut removed = 0;
    for (kind, workloads) in listed {
        let spawner = hub.spawners().of(kind)?;
        let known: HashSet<(String, String)> = live
            .iter()
            .filter(|r| r.spawner_kind.unwrap_or(current) == kind)
            .map(|r| (r.user_name.to_string(), r.name.to_string()))
            .chain(unreadable.iter().cloned())
            .collect();
        for workload in workloads {
            if known.contains(&(workload.user.clone(), workload.server.clone())) {
                continue;
            }
            warn!(user.name = %workload.user, server.name = %workload.server, running = workload.running,
                spawner = %kind, "removing a workload that no server row owns");
            spawner.stop(&workload.state).await?;
            events::record(
                hub.db(),
                None,
                "server.orphan_removed",
                Some(&format!("{}/{}", workload.user, workload.server)),
                json!({ "running": workload.running, "spawner": kind }),
            )
            .await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The rows that are starting, running or stopping, and the (user, server) of rows that do not
/// parse (their state included): those still own what they may refer to, and are never swept.
async fn live_rows(hub: &Hub) -> Result<(Vec<ServerRow>, HashSet<(String, String)>), ServerError> {
    let mut live = Vec::new();
    let mut unreadable = HashSet::new();
    for row in db::servers::not_stopped(hub.db()).await? {
        match row {
            Ok(row) if row.state.is_live() => live.push(row),
            Ok(_) => {}
            Err(bad) => {
                unreadable.insert((bad.user_name, bad.name));
            }
        }
    }
    Ok((live, unreadable))
}

/// Stops and forgets all of a user's servers and removes their home: what deleting a user with
/// their data needs.
pub async fn purge_user(hub: &Hub, actor: Option<&str>, user: &User) -> Result<(), ServerError> {
    for info in list(hub, user).await? {
        delete(hub, actor, user, &info.name).await?;
    }
    for kind in hub.spawners().kinds().collect::<Vec<_>>() {
        let removed = hub.spawners().of(kind)?.remove_home(&user.name).await;
        match removed {
            Ok(()) => {}
            Err(e) if kind == hub.spawners().current_kind() => return Err(e.into()),
            Err(e) => warn!(spawner = %kind, error = %e, "removing a home on a spawner not in use failed"),
        }
    }
    events::record(hub.db(), actor, "user.purge_home", Some(user.name.as_str()), json!({})).await?;
    Ok(())
}

/// Creates a named server without starting it (the API's PUT); false when it already exists.
pub async fn create(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    flavour: &str,
    size: &str,
) -> Result<bool, ServerError> {
    if server.is_default() {
        return Err(ServerError::InvalidName(crate::domain::ServerNameError::Reserved(String::new())));
    }
    let launch = catalogue::resolve(hub.config(), &hub.gpus().snapshot(), flavour, size)?;
    let limit = hub.config().servers.named_servers_limit;
    if limit == 0 {
        return Err(ServerError::NamedServersDisabled);
    }
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    db::servers::lock_fleet(&mut tx).await?;
    if db::servers::get(&mut *tx, user.id, server).await?.is_some() {
        return Ok(false);
    }
    if db::servers::count_named(&mut tx, user.id).await? >= i64::from(limit) {
        return Err(ServerError::TooManyNamed(limit));
    }
    let created =
        db::servers::create_stopped(&mut tx, user.id, server, &launch.flavour.id, &launch.size.id, now)
            .await?;
    if created {
        events::record(
            &mut *tx,
            actor,
            "server.create",
            Some(&format!("{}/{}", user.name, server)),
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// What a PATCH of a stopped named server changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServerChange {
    pub name: Option<ServerName>,
    pub flavour: Option<String>,
    pub size: Option<String>,
}

/// Renames a stopped named server and/or changes the flavour and size it starts with next, in one
/// transaction. Returns the server as it is afterwards.
pub async fn modify(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    change: ServerChange,
) -> Result<ServerInfo, ServerError> {
    let mut tx = hub.db().begin().await?;
    let row = db::servers::get(&mut *tx, user.id, server).await?.ok_or(ServerError::NotFound)?;
    if row.state != ServerState::Stopped {
        return Err(ServerError::NotStopped(row.state));
    }
    if change.name.is_none() && change.flavour.is_none() && change.size.is_none() {
        return Err(ServerError::NothingToChange);
    }
    if change.flavour.is_some() || change.size.is_some() {
        let flavour = change.flavour.as_deref().or(row.flavour.as_deref()).unwrap_or_default();
        let size = change.size.as_deref().or(row.size.as_deref()).unwrap_or_default();
        let launch = catalogue::resolve(hub.config(), &hub.gpus().snapshot(), flavour, size)?;
        if !db::servers::set_choice_stopped(&mut tx, row.id, &launch.flavour.id, &launch.size.id).await? {
            return Err(ServerError::Busy(row.state));
        }
    }
    let mut current = server.clone();
    if let Some(new) = change.name.filter(|n| n != server) {
        if server.is_default() || new.is_default() {
            return Err(ServerError::DefaultNotRenamed);
        }
        if !db::servers::rename_stopped(&mut tx, row.id, &new).await? {
            return Err(ServerError::NameTaken(new.to_string()));
        }
        current = new;
    }
    events::record(
        &mut *tx,
        actor,
        "server.modify",
        Some(&format!("{}/{}", user.name, server)),
        json!({ "name": current.as_str(), "flavour": row.flavour, "size": row.size }),
    )
    .await?;
    let after = db::servers::get(&mut *tx, user.id, &current).await?.ok_or(ServerError::NotFound)?;
    tx.commit().await?;
    Ok(info_from(after))
}

/// Every server that is queued, starting or running, with its owner: what "stop all" stops.
pub async fn active(hub: &Hub) -> Result<Vec<(User, ServerName)>, ServerError> {
    let mut out = Vec::new();
    for state in ServerState::active() {
        for row in rows_in(hub, state).await? {
            let Some(user) = db::users::by_id(hub.db(), row.user_id).await? else { continue };
            let user =
                User::from_row(user).map_err(|e| ServerError::Unexpected(anyhow::anyhow!(e.to_string())))?;
            out.push((user, row.name));
        }
    }
    Ok(out)
}

impl crate::error::Classify for ServerError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::{ErrorClass as C, UNAVAILABLE_RETRY_SECONDS};
        match self {
            // JupyterHub answers 400 for a server busy starting or stopping, and for the limits on
            // named servers; its clients expect that.
            ServerError::Launch(_)
            | ServerError::InvalidName(_)
            | ServerError::NamedServersDisabled
            | ServerError::TooManyNamed(_)
            | ServerError::Busy(_)
            | ServerError::NotStopped(_)
            | ServerError::NothingToChange
            | ServerError::DefaultNotRenamed => C::Invalid,
            ServerError::NotFound => C::NotFound,
            ServerError::NameTaken(_) | ServerError::OthersWaiting | ServerError::NothingToExtend => {
                C::Conflict
            }
            ServerError::GpuLimit(_) => C::Forbidden,
            ServerError::TooManySpawns { retry_after_seconds }
            | ServerError::TooManyActive { retry_after_seconds } => {
                C::Throttled { retry_after_seconds: *retry_after_seconds }
            }
            ServerError::StopFailed(_) => C::Unavailable { retry_after_seconds: UNAVAILABLE_RETRY_SECONDS },
            ServerError::Spawn(e) => e.class(),
            ServerError::BadRow(_) | ServerError::Unexpected(_) => C::Internal,
        }
    }
}

#[cfg(test)]
mod tests;
