//! Server lifecycle: start (with progress), stop, delete, list, and reconciling after a restart.
//! The database row's `status` is the source of truth; conditional updates make concurrent
//! requests for the same server safe (one wins, the others see it busy).

pub mod activity;
pub mod progress;
pub mod routes;

use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::accounts::User;
use crate::catalogue::{self, LaunchError};
use crate::db::{self, events, servers::ServerRow};
use crate::domain::{ServerName, ServerNameError, UserName};
use crate::secret::SecretToken;
use crate::spawner::{ProgressStep, ServerStatus, SpawnError, SpawnSpec, SpawnerState};
use crate::Hub;
use progress::ProgressEvent;
use routes::Route;

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
    Busy(String),
    #[error("the server is {0}; stop it before changing it")]
    NotStopped(String),
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
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// A start began; follow its progress.
    Started,
    AlreadyPending,
    AlreadyRunning,
}

/// A server as pages and the API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub flavour: Option<String>,
    pub size: Option<String>,
    pub url: String,
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

fn info_from(row: ServerRow, user: &UserName) -> ServerInfo {
    let server = ServerName::parse(&row.name).unwrap_or_default();
    ServerInfo {
        id: row.id,
        url: base_url(user, &server),
        name: row.name,
        status: row.status,
        flavour: row.flavour,
        size: row.size,
        started_at: row.started_at,
        last_activity: row.last_activity,
    }
}

pub async fn list(hub: &Hub, user: &User) -> Result<Vec<ServerInfo>, ServerError> {
    Ok(db::servers::for_user(hub.db(), user.id)
        .await?
        .into_iter()
        .map(|r| info_from(r, &user.name))
        .collect())
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
    let names: std::collections::HashMap<i64, &UserName> = users.iter().map(|u| (u.id, &u.name)).collect();
    for row in db::servers::for_users(hub.db(), &ids).await? {
        let Some(name) = names.get(&row.user_id).copied() else { continue };
        let user_id = row.user_id;
        out.entry(user_id).or_default().0.push(info_from(row, name));
    }
    for (user_id, group) in db::groups::of_users(hub.db(), &ids).await? {
        out.entry(user_id).or_default().1.push(group);
    }
    Ok(out)
}

pub async fn get(hub: &Hub, user: &User, server: &ServerName) -> Result<Option<ServerInfo>, ServerError> {
    Ok(db::servers::get(hub.db(), user.id, server.as_str()).await?.map(|r| info_from(r, &user.name)))
}

/// The token Jupyter accepts for one start: derived from the hub's secret and a per-start nonce, so
/// the database never holds it.
fn upstream_token(hub: &Hub, nonce: &str) -> String {
    hex::encode(Sha256::digest(format!("{}:{nonce}", hub.secret()).as_bytes()))
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct StoredState {
    #[serde(flatten)]
    spawner: SpawnerState,
    #[serde(default)]
    token_nonce: String,
}

/// Begins starting `server` for `user` with the chosen flavour and size; returns at once.
/// `actor` is who asked (the owner, an admin, or `None` for the hub itself): the audit log names them.
#[tracing::instrument(skip(hub, user), fields(user.name = %user.name, server.name = %server))]
pub async fn start(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    flavour: &str,
    size: &str,
) -> Result<StartOutcome, ServerError> {
    let launch = catalogue::resolve(hub.config(), flavour, size)?;
    let pool = hub.db();
    if !server.is_default() {
        let limit = hub.config().spawner.named_servers_limit;
        if limit == 0 {
            return Err(ServerError::NamedServersDisabled);
        }
        if db::servers::get(pool, user.id, server.as_str()).await?.is_none()
            && db::servers::count_named(pool, user.id).await? >= i64::from(limit)
        {
            return Err(ServerError::TooManyNamed(limit));
        }
    }
    let existing = db::servers::get(pool, user.id, server.as_str()).await?;
    if existing.as_ref().is_none_or(|r| r.status == "stopped") {
        let limits = &hub.config().spawner;
        if db::servers::count_with_status(pool, &["pending"]).await?
            >= i64::from(limits.concurrent_spawn_limit)
        {
            return Err(ServerError::TooManySpawns { retry_after_seconds: 10 });
        }
        if limits.active_server_limit > 0
            && db::servers::count_with_status(pool, &["pending", "running"]).await?
                >= i64::from(limits.active_server_limit)
        {
            return Err(ServerError::TooManyActive { retry_after_seconds: 60 });
        }
    }
    db::servers::ensure(pool, user.id, server.as_str()).await?;
    let row = db::servers::get(pool, user.id, server.as_str()).await?.ok_or(ServerError::NotFound)?;
    let nonce = SecretToken::generate().expose().to_owned();
    // The workload is recorded before it exists: a hub killed mid-start finds it again at start-up.
    let planned =
        StoredState { spawner: hub.spawner().planned_state(&user.name, server), token_nonce: nonce.clone() };
    let planned = serde_json::to_string(&planned).map_err(|e| ServerError::Unexpected(e.into()))?;
    if !db::servers::begin_start(pool, row.id, &launch.flavour.id, &launch.size.id, &planned).await? {
        let now =
            db::servers::get(pool, user.id, server.as_str()).await?.map(|r| r.status).unwrap_or_default();
        return Ok(match now.as_str() {
            "running" => StartOutcome::AlreadyRunning,
            "pending" => StartOutcome::AlreadyPending,
            other => return Err(ServerError::Busy(other.to_owned())),
        });
    }
    events::record(
        pool,
        actor,
        "server.start",
        Some(&format!("{}/{}", user.name, server)),
        json!({ "flavour": launch.flavour.id, "size": launch.size.id }),
    )
    .await?;

    let progress = hub.progress().clone();
    progress.begin(row.id);
    progress.publish(
        row.id,
        ProgressEvent {
            progress: 5,
            message: "Server requested".into(),
            ready: false,
            failed: false,
            url: None,
        },
    );

    let spec = SpawnSpec {
        user: user.name.clone(),
        server: server.clone(),
        image: launch.flavour.image.clone(),
        cpu: launch.size.cpu,
        memory_mib: launch.size.memory_mib,
        gpus: launch.size.gpus,
        base_url: base_url(&user.name, server),
        token: SecretToken::from_presented(&upstream_token(hub, &nonce)),
    };
    let hub = hub.clone();
    let server_id = row.id;
    let user_id = user.id;
    tokio::spawn(async move {
        let sink = {
            let progress = progress.clone();
            move |step: ProgressStep| {
                progress.publish(
                    server_id,
                    ProgressEvent {
                        progress: step.progress,
                        message: step.message,
                        ready: false,
                        failed: false,
                        url: None,
                    },
                )
            }
        };
        let result = hub.spawner().start(&spec, &sink).await;
        finish_start(&hub, server_id, user_id, &spec, nonce, result).await;
    });
    Ok(StartOutcome::Started)
}

async fn finish_start(
    hub: &Hub,
    server_id: i64,
    user_id: i64,
    spec: &SpawnSpec,
    nonce: String,
    result: Result<crate::spawner::Spawned, SpawnError>,
) {
    let pool = hub.db();
    let progress = hub.progress();
    match result {
        Ok(spawned) => {
            let stored = StoredState { spawner: spawned.state.clone(), token_nonce: nonce };
            let state = serde_json::to_string(&stored).unwrap_or_else(|_| "{}".into());
            match db::servers::mark_running(pool, server_id, &spawned.url, &state).await {
                Ok(true) => {
                    hub.routes().add(
                        spec.user.as_str(),
                        spec.server.as_str(),
                        Route {
                            server_id,
                            user_id,
                            upstream: spawned.url.clone(),
                            token: spec.token.expose().to_owned(),
                        },
                    );
                    progress.publish(
                        server_id,
                        ProgressEvent {
                            progress: 100,
                            message: "Server ready".into(),
                            ready: true,
                            failed: false,
                            url: Some(spec.base_url.clone()),
                        },
                    );
                }
                Ok(false) | Err(_) => {
                    warn!(server.id = server_id, "server started but its row changed meanwhile; stopping it");
                    let _ = hub.spawner().stop(&spawned.state).await;
                    let _ = db::servers::mark_stopped(pool, server_id).await;
                    progress.publish(server_id, failed_event("The server was stopped while it started."));
                }
            }
        }
        Err(e) => {
            warn!(user.name = %spec.user, server.name = %spec.server, error = %e, "server failed to start");
            let _ = db::servers::mark_stopped(pool, server_id).await;
            let _ = events::record(
                pool,
                None,
                "server.start_failed",
                Some(&format!("{}/{}", spec.user, spec.server)),
                json!({ "reason": e.to_string() }),
            )
            .await;
            progress.publish(server_id, failed_event(&format!("Start failed: {e}")));
        }
    }
}

fn failed_event(message: &str) -> ProgressEvent {
    ProgressEvent { progress: 100, message: message.to_owned(), ready: false, failed: true, url: None }
}

/// Stops a running server and waits for it to be gone. Stopping a stopped server is a no-op.
#[tracing::instrument(skip(hub, user), fields(user.name = %user.name, server.name = %server))]
pub async fn stop(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    let pool = hub.db();
    let row = db::servers::get(pool, user.id, server.as_str()).await?.ok_or(ServerError::NotFound)?;
    if row.status == "stopped" {
        return Ok(());
    }
    if !db::servers::begin_stop(pool, row.id).await? {
        return Err(ServerError::Busy(row.status));
    }
    hub.routes().remove(user.name.as_str(), server.as_str());
    let stored: StoredState = serde_json::from_str(&row.spawner_state).unwrap_or_default();
    let stopped = hub.spawner().stop(&stored.spawner).await;
    db::servers::mark_stopped(pool, row.id).await?;
    events::record(pool, actor, "server.stop", Some(&format!("{}/{}", user.name, server)), json!({})).await?;
    stopped?;
    info!("server stopped");
    Ok(())
}

/// Stops (when needed) and forgets a server. The user's home volume stays.
pub async fn delete(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    stop(hub, actor, user, server).await?;
    let row = db::servers::get(hub.db(), user.id, server.as_str()).await?.ok_or(ServerError::NotFound)?;
    if !db::servers::delete_stopped(hub.db(), row.id).await? {
        return Err(ServerError::Busy(row.status));
    }
    events::record(hub.db(), actor, "server.delete", Some(&format!("{}/{}", user.name, server)), json!({}))
        .await?;
    Ok(())
}

/// How long a server that has just exited gets to come back before it counts as gone: `docker
/// restart` stops and starts the same container, and a poll in between must not remove it.
const RESTART_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Checks every server the database says is running: routes for those that are (following an
/// address the engine changed, e.g. after `docker restart`), `stopped` for those whose workload is
/// gone or has exited for good. Runs at start-up, periodically, and when the proxy cannot connect,
/// so a server that dies or moves is noticed without anyone asking.
pub async fn poll_running(hub: &Hub) -> Result<(), ServerError> {
    let pool = hub.db();
    for row in db::servers::with_status(pool, "running").await? {
        let stored: StoredState = serde_json::from_str(&row.spawner_state).unwrap_or_default();
        let mut status = hub.spawner().poll(&stored.spawner).await;
        if matches!(status, Ok(ServerStatus::Exited { .. })) {
            tokio::time::sleep(RESTART_GRACE).await;
            status = hub.spawner().poll(&stored.spawner).await;
        }
        match status {
            Ok(ServerStatus::Running { url }) => {
                let route = hub.routes().get(&row.user_name, &row.name);
                let mut upstream = row.url.clone();
                if let Some(now) = url.filter(|u| row.url.as_deref() != Some(u.as_str())) {
                    info!(user.name = %row.user_name, server.name = %row.name, old = ?row.url, new = %now,
                        "the server's address changed; following it");
                    if !db::servers::set_url(pool, row.id, &now).await? {
                        continue; // stopped meanwhile
                    }
                    upstream = Some(now);
                }
                let Some(upstream) = upstream else { continue };
                if route.is_none_or(|r| r.upstream != upstream) {
                    hub.routes().add(
                        &row.user_name,
                        &row.name,
                        Route {
                            server_id: row.id,
                            user_id: row.user_id,
                            upstream,
                            token: upstream_token(hub, &stored.token_nonce),
                        },
                    );
                }
            }
            // Neither gone nor reachable: look again next time.
            Ok(ServerStatus::Restarting) => {}
            Ok(status) => {
                info!(user.name = %row.user_name, server.name = %row.name, ?status, "server is gone; marking it stopped");
                hub.routes().remove(&row.user_name, &row.name);
                let _ = hub.spawner().stop(&stored.spawner).await;
                // Only if nobody changed it meanwhile.
                if db::servers::begin_stop(pool, row.id).await? {
                    db::servers::mark_stopped(pool, row.id).await?;
                    events::record(
                        pool,
                        None,
                        "server.died",
                        Some(&format!("{}/{}", row.user_name, row.name)),
                        json!({}),
                    )
                    .await?;
                }
            }
            // Engine down: keep the row as it is and look again next time.
            Err(e) => warn!(error = %e, "cannot check a running server"),
        }
    }
    Ok(())
}

/// After a restart: [`poll_running`]; starts and stops that the restart cut off are settled (the
/// workload each recorded before it was made is removed); then [`sweep_orphans`].
pub async fn reconcile(hub: &Hub) -> Result<(), ServerError> {
    poll_running(hub).await?;
    let pool = hub.db();
    for status in ["pending", "stopping"] {
        for row in db::servers::with_status(pool, status).await? {
            let stored: StoredState = serde_json::from_str(&row.spawner_state).unwrap_or_default();
            if let Err(e) = hub.spawner().stop(&stored.spawner).await {
                warn!(user.name = %row.user_name, server.name = %row.name, error = %e,
                    "removing the workload of an interrupted start or stop failed; the sweep retries");
            }
            db::servers::mark_stopped(pool, row.id).await?;
            events::record(
                pool,
                None,
                "server.interrupted",
                Some(&format!("{}/{}", row.user_name, row.name)),
                json!({ "was": status }),
            )
            .await?;
        }
    }
    if let Err(e) = sweep_orphans(hub).await {
        warn!(error = %e, "sweeping orphaned workloads failed");
    }
    Ok(())
}

/// Removes every workload that carries this hub's labels but belongs to no server row that is
/// starting, running or stopping (a hub killed at the wrong moment, a row deleted behind its
/// back). Returns how many were removed.
pub async fn sweep_orphans(hub: &Hub) -> Result<usize, ServerError> {
    let workloads = hub.spawner().workloads().await?;
    if workloads.is_empty() {
        return Ok(0);
    }
    let mut known = std::collections::HashSet::new();
    for status in ["pending", "running", "stopping"] {
        for row in db::servers::with_status(hub.db(), status).await? {
            let stored: StoredState = serde_json::from_str(&row.spawner_state).unwrap_or_default();
            known.extend(stored.spawner.container_id);
            known.extend(stored.spawner.container_name);
        }
    }
    let mut removed = 0;
    for workload in workloads {
        let state = &workload.state;
        let is_known =
            [&state.container_id, &state.container_name].into_iter().flatten().any(|k| known.contains(k));
        if is_known {
            continue;
        }
        warn!(user.name = %workload.user, server.name = %workload.server, running = workload.running,
            "removing a workload that no server row owns");
        hub.spawner().stop(state).await?;
        events::record(
            hub.db(),
            None,
            "server.orphan_removed",
            Some(&format!("{}/{}", workload.user, workload.server)),
            json!({ "running": workload.running }),
        )
        .await?;
        removed += 1;
    }
    Ok(removed)
}

/// Stops and forgets all of a user's servers and removes their home volume: what deleting a user
/// with their data needs.
pub async fn purge_user(hub: &Hub, actor: Option<&str>, user: &User) -> Result<(), ServerError> {
    for info in list(hub, user).await? {
        let name = ServerName::parse(&info.name).unwrap_or_default();
        delete(hub, actor, user, &name).await?;
    }
    hub.spawner().remove_home(&user.name).await?;
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
    let launch = catalogue::resolve(hub.config(), flavour, size)?;
    let pool = hub.db();
    let limit = hub.config().spawner.named_servers_limit;
    if limit == 0 {
        return Err(ServerError::NamedServersDisabled);
    }
    if db::servers::count_named(pool, user.id).await? >= i64::from(limit) {
        return Err(ServerError::TooManyNamed(limit));
    }
    let created =
        db::servers::create_stopped(pool, user.id, server.as_str(), &launch.flavour.id, &launch.size.id)
            .await?;
    if created {
        events::record(pool, actor, "server.create", Some(&format!("{}/{}", user.name, server)), json!({}))
            .await?;
    }
    Ok(created)
}

/// What a PATCH of a stopped named server changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServerChange {
    pub name: Option<ServerName>,
    pub flavour: Option<String>,
    pub size: Option<String>,
}

/// Renames a stopped named server and/or changes the flavour and size it starts with next.
/// Returns the server as it is afterwards.
pub async fn modify(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    change: ServerChange,
) -> Result<ServerInfo, ServerError> {
    let pool = hub.db();
    let row = db::servers::get(pool, user.id, server.as_str()).await?.ok_or(ServerError::NotFound)?;
    if row.status != "stopped" {
        return Err(ServerError::NotStopped(row.status));
    }
    if change.name.is_none() && change.flavour.is_none() && change.size.is_none() {
        return Err(ServerError::NothingToChange);
    }
    if change.flavour.is_some() || change.size.is_some() {
        let flavour = change.flavour.as_deref().or(row.flavour.as_deref()).unwrap_or_default();
        let size = change.size.as_deref().or(row.size.as_deref()).unwrap_or_default();
        let launch = catalogue::resolve(hub.config(), flavour, size)?;
        if !db::servers::set_choice_stopped(pool, row.id, &launch.flavour.id, &launch.size.id).await? {
            return Err(ServerError::Busy(row.status));
        }
    }
    let mut current = server.clone();
    if let Some(new) = change.name.filter(|n| n != server) {
        if server.is_default() || new.is_default() {
            return Err(ServerError::DefaultNotRenamed);
        }
        if db::servers::get(pool, user.id, new.as_str()).await?.is_some() {
            return Err(ServerError::NameTaken(new.to_string()));
        }
        if !db::servers::rename_stopped(pool, row.id, new.as_str()).await? {
            return Err(ServerError::NameTaken(new.to_string()));
        }
        current = new;
    }
    events::record(
        pool,
        actor,
        "server.modify",
        Some(&format!("{}/{}", user.name, server)),
        json!({ "name": current.as_str(), "flavour": row.flavour, "size": row.size }),
    )
    .await?;
    get(hub, user, &current).await?.ok_or(ServerError::NotFound)
}

/// Every server that is starting or running, with its owner: what "stop all" stops.
pub async fn active(hub: &Hub) -> Result<Vec<(User, ServerName)>, ServerError> {
    let mut out = Vec::new();
    for status in ["pending", "running"] {
        for row in db::servers::with_status(hub.db(), status).await? {
            let Some(user) = db::users::by_id(hub.db(), row.user_id).await? else { continue };
            let user =
                User::from_row(user).map_err(|e| ServerError::Unexpected(anyhow::anyhow!(e.to_string())))?;
            out.push((user, ServerName::parse(&row.name).unwrap_or_default()));
        }
    }
    Ok(out)
}
