//! `servers`: one row per (user, server name). Rows are parsed where they are read: a stored
//! value that does not parse is an error naming the row ([`BadRow`]), never a silent default.
//! The writes are the lifecycle's conditional updates; `hub::servers::transitions` runs each in
//! one transaction with its limits and its audit row.

use sqlx::FromRow;

use super::{Db, DbConn, Pool};
use crate::domain::{ServerName, UserName};
use crate::stored::{ServerState, SpawnerKind, Upstream, WorkloadState};

/// What the hub stores about a live workload: the spawner's opaque state and the nonce the
/// server's token derives from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredWorkload {
    pub workload: WorkloadState,
    pub token_nonce: String,
}

#[derive(Debug, Clone)]
pub struct ServerRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: UserName,
    pub name: ServerName,
    pub state: ServerState,
    pub flavour: Option<String>,
    pub size: Option<String>,
    pub upstream: Option<Upstream>,
    /// The spawner that started the workload (set from the start's claim until the row is stopped).
    pub spawner_kind: Option<SpawnerKind>,
    pub workload: Option<StoredWorkload>,
    /// Why the last start or stop failed; shown to the owner and the admin.
    pub last_error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub last_activity: Option<i64>,
    pub state_changed_at: Option<i64>,
    /// The hub process carrying out the start or stop under way, if any.
    pub worker: Option<String>,
}

/// A stored server row with a value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server row {id} (user {user_name:?}, server {name:?}): unreadable {field}: {problem}")]
pub struct BadRow {
    pub id: i64,
    pub user_name: String,
    pub name: String,
    pub field: &'static str,
    pub problem: String,
}

#[derive(FromRow)]
struct RawRow {
    id: i64,
    user_id: i64,
    user_name: String,
    name: String,
    status: String,
    flavour: Option<String>,
    size: Option<String>,
    url: Option<String>,
    spawner_kind: Option<String>,
    spawner_state: String,
    last_error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    last_activity: Option<i64>,
    state_changed_at: Option<i64>,
    worker: Option<String>,
}

impl TryFrom<RawRow> for ServerRow {
    type Error = BadRow;

    fn try_from(raw: RawRow) -> Result<Self, BadRow> {
        let bad = |field: &'static str, problem: String| BadRow {
            id: raw.id,
            user_name: raw.user_name.clone(),
            name: raw.name.clone(),
            field,
            problem,
        };
        let user_name = UserName::parse(&raw.user_name).map_err(|e| bad("user name", e.to_string()))?;
        let name = ServerName::parse(&raw.name).map_err(|e| bad("name", e.to_string()))?;
        let state = ServerState::parse(&raw.status).map_err(|e| bad("status", e.to_string()))?;
        let upstream = raw
            .url
            .as_deref()
            .map(serde_json::from_str::<Upstream>)
            .transpose()
            .map_err(|e| bad("upstream", e.to_string()))?;
        let spawner_kind = raw
            .spawner_kind
            .as_deref()
            .map(|k| SpawnerKind::parse(k).ok_or_else(|| bad("spawner kind", format!("{k:?} is no spawner"))))
            .transpose()?;
        let workload = match raw.spawner_state.trim() {
            "" | "{}" => None,
            text => Some(
                serde_json::from_str::<StoredWorkload>(text)
                    .map_err(|e| bad("spawner state", e.to_string()))?,
            ),
        };
        if state.is_live() && workload.is_none() {
            return Err(bad("spawner state", format!("a {state} server has none")));
        }
        Ok(Self {
            id: raw.id,
            user_id: raw.user_id,
            user_name,
            name,
            state,
            flavour: raw.flavour,
            size: raw.size,
            upstream,
            spawner_kind,
            workload,
            last_error: raw.last_error,
            created_at: raw.created_at,
            started_at: raw.started_at,
            last_activity: raw.last_activity,
            state_changed_at: raw.state_changed_at,
            worker: raw.worker,
        })
    }
}

/// A read that parses each row; `sqlx::Error::Decode` carries the [`BadRow`] when one does not.
fn parse_all(raw: Vec<RawRow>) -> Result<Vec<ServerRow>, sqlx::Error> {
    raw.into_iter().map(|r| ServerRow::try_from(r).map_err(|e| sqlx::Error::Decode(Box::new(e)))).collect()
}

macro_rules! server_select {
    () => {
        "SELECT s.id, s.user_id, u.name AS user_name, s.name, s.status, s.flavour, s.size, s.url, \
         s.spawner_kind, s.spawner_state, s.last_error, s.created_at, s.started_at, s.last_activity, \
         s.state_changed_at, s.worker FROM servers s JOIN users u ON u.id = s.user_id "
    };
}

pub async fn for_user<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
) -> Result<Vec<ServerRow>, sqlx::Error> {
    let raw = sqlx::query_as::<_, RawRow>(concat!(server_select!(), "WHERE s.user_id = $1 ORDER BY s.name"))
        .bind(user_id)
        .fetch_all(ex)
        .await?;
    parse_all(raw)
}

pub async fn get<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
    name: &ServerName,
) -> Result<Option<ServerRow>, sqlx::Error> {
    let raw = sqlx::query_as::<_, RawRow>(concat!(server_select!(), "WHERE s.user_id = $1 AND s.name = $2"))
        .bind(user_id)
        .bind(name.as_str())
        .fetch_optional(ex)
        .await?;
    Ok(parse_all(raw.into_iter().collect())?.pop())
}

pub async fn by_id<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
) -> Result<Option<ServerRow>, sqlx::Error> {
    let raw = sqlx::query_as::<_, RawRow>(concat!(server_select!(), "WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    Ok(parse_all(raw.into_iter().collect())?.pop())
}

/// Every row in `state`, each parsed on its own: one bad row does not hide the others from the
/// lifecycle's sweeps.
pub async fn in_state<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    state: ServerState,
) -> Result<Vec<Result<ServerRow, BadRow>>, sqlx::Error> {
    let raw = sqlx::query_as::<_, RawRow>(concat!(server_select!(), "WHERE s.status = $1 ORDER BY s.id"))
        .bind(state.as_str())
        .fetch_all(ex)
        .await?;
    Ok(raw.into_iter().map(ServerRow::try_from).collect())
}

/// Every row that is not `stopped`, each parsed on its own (a row whose state does not parse is
/// among them): what the orphan sweep holds the spawners' workloads against.
pub async fn not_stopped<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
) -> Result<Vec<Result<ServerRow, BadRow>>, sqlx::Error> {
    let raw = sqlx::query_as::<_, RawRow>(concat!(server_select!(), "WHERE s.status <> $1 ORDER BY s.id"))
        .bind(ServerState::Stopped.as_str())
        .fetch_all(ex)
        .await?;
    Ok(raw.into_iter().map(ServerRow::try_from).collect())
}

/// The servers of several users at once (one page of a user list), ordered by user and name;
/// each parsed on its own, so one bad row does not hide everyone else's.
pub async fn for_users<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_ids: &[i64],
) -> Result<Vec<Result<ServerRow, BadRow>>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{}WHERE s.user_id IN ({}) ORDER BY s.user_id, s.name",
        server_select!(),
        super::placeholders(1, user_ids.len())
    );
    let mut query = sqlx::query_as::<_, RawRow>(sqlx::AssertSqlSafe(sql));
    for id in user_ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(ex).await?.into_iter().map(ServerRow::try_from).collect())
}

/// Makes sure the row exists (stopped when new).
pub async fn ensure(conn: &mut DbConn, user_id: i64, name: &ServerName, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO servers (user_id, name, status, created_at, state_changed_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(user_id)
    .bind(name.as_str())
    .bind(ServerState::Stopped.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn count_named(conn: &mut DbConn, user_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE user_id = $1 AND name <> ''")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
}

/// Servers in any of `states`, across all users.
pub async fn count_in(conn: &mut DbConn, states: &[ServerState]) -> Result<i64, sqlx::Error> {
    let sql =
        format!("SELECT COUNT(*) FROM servers WHERE status IN ({})", super::placeholders(1, states.len()));
    let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    for state in states {
        query = query.bind(state.as_str());
    }
    query.fetch_one(&mut *conn).await
}

/// Takes the lifecycle's row lock: transactions that check fleet-wide limits run one at a time
/// (a plain conditional update of one row, so it works the same on every database).
pub async fn lock_fleet(conn: &mut DbConn) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE locks SET generation = generation + 1 WHERE name = 'servers'")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a start records on its row before the workload exists.
#[derive(Debug, Clone, Copy)]
pub struct PlannedStart<'a> {
    pub flavour: &'a str,
    pub size: &'a str,
    pub kind: SpawnerKind,
    pub planned: &'a StoredWorkload,
    /// The hub process carrying the start out.
    pub worker: &'a str,
}

/// stopped (a start) or queued (its turn came) → pending, recording the choice, the spawner and
/// the workload it is about to make (so a hub killed mid-start can find it). False when the
/// server was not in `from`.
pub async fn begin_start(
    conn: &mut DbConn,
    id: i64,
    from: ServerState,
    start: PlannedStart<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let PlannedStart { flavour, size, kind, planned, worker } = start;
    let state = serde_json::to_string(planned).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query(
        "UPDATE servers SET status = $1, flavour = $2, size = $3, url = NULL, spawner_kind = $4, \
         spawner_state = $5, last_error = NULL, last_log = NULL, state_changed_at = $6, worker = $9 \
         WHERE id = $7 AND status = $8",
    )
    .bind(ServerState::Pending.as_str())
    .bind(flavour)
    .bind(size)
    .bind(kind.as_str())
    .bind(state)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// stopped → queued: waiting for GPUs, with the choice it will start with, in order of `now`.
pub async fn enqueue(
    conn: &mut DbConn,
    id: i64,
    flavour: &str,
    size: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET status = $1, flavour = $2, size = $3, queued_at = $4, url = NULL, spawner_kind = NULL, \
         spawner_state = '{}', last_error = NULL, state_changed_at = $4, worker = NULL WHERE id = $5 AND status = $6",
    )
    .bind(ServerState::Queued.as_str())
    .bind(flavour)
    .bind(size)
    .bind(now)
    .bind(id)
    .bind(ServerState::Stopped.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The queue in the order turns are given: first the servers of users who hold no GPU now, then
/// the others; within each, first come first served. Each row parsed on its own.
pub async fn queue(conn: &mut DbConn) -> Result<Vec<Result<ServerRow, BadRow>>, sqlx::Error> {
    let raw = sqlx::query_as::<_, RawRow>(concat!(
        server_select!(),
        "WHERE s.status = $1 ORDER BY (SELECT COUNT(*) FROM gpu_claims c JOIN servers o ON o.id = c.server_id \
         WHERE o.user_id = s.user_id) > 0, s.queued_at, s.id"
    ))
    .bind(ServerState::Queued.as_str())
    .fetch_all(&mut *conn)
    .await?;
    Ok(raw.into_iter().map(ServerRow::try_from).collect())
}

/// pending → running with the workload's address and final state.
pub async fn mark_running(
    conn: &mut DbConn,
    id: i64,
    upstream: &Upstream,
    workload: &StoredWorkload,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let url = serde_json::to_string(upstream).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let state = serde_json::to_string(workload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query(
        "UPDATE servers SET status = $1, url = $2, spawner_state = $3, started_at = $4, last_activity = $4, \
         state_changed_at = $4, worker = NULL WHERE id = $5 AND status = $6",
    )
    .bind(ServerState::Running.as_str())
    .bind(url)
    .bind(state)
    .bind(now)
    .bind(id)
    .bind(ServerState::Pending.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A running server's new address (its engine moved it, e.g. `docker restart`). False when the
/// row is no longer running.
pub async fn set_upstream(conn: &mut DbConn, id: i64, upstream: &Upstream) -> Result<bool, sqlx::Error> {
    let url = serde_json::to_string(upstream).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query("UPDATE servers SET url = $1 WHERE id = $2 AND status = $3")
        .bind(url)
        .bind(id)
        .bind(ServerState::Running.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// `from` → stopping, carried out by `worker`. False when the row was not in `from`.
pub async fn begin_stop(
    conn: &mut DbConn,
    id: i64,
    from: ServerState,
    worker: &str,
    now: i64,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET status = $1, state_changed_at = $2, worker = $5, stop_reason = $6 \
         WHERE id = $3 AND status = $4",
    )
    .bind(ServerState::Stopping.as_str())
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .bind(worker)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `from` → stopped, forgetting the workload; `error` says why when it was not asked for, else
/// the reason the hub gave when it began the stop (if it did). False when the row was not in `from`.
pub async fn mark_stopped(
    conn: &mut DbConn,
    id: i64,
    from: ServerState,
    error: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET status = $1, url = NULL, spawner_kind = NULL, spawner_state = '{}', started_at = NULL, \
         last_error = COALESCE($2, stop_reason), stop_reason = NULL, state_changed_at = $3, worker = NULL \
         WHERE id = $4 AND status = $5",
    )
    .bind(ServerState::Stopped.as_str())
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Keeps the end of a server's log (its start failed or it died; the workload is removed next).
pub async fn set_last_log(conn: &mut DbConn, id: i64, log: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE servers SET last_log = $1 WHERE id = $2")
        .bind(log)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The end of the log kept by [`set_last_log`], if any.
pub async fn last_log(pool: &Pool, id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar::<_, Option<String>>("SELECT last_log FROM servers WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map(Option::flatten)
}

/// Says what is wrong with a server that keeps its state (e.g. one of its GPUs left the pool).
pub async fn set_last_error(conn: &mut DbConn, id: i64, error: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE servers SET last_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records why a stop failed; the row stays `stopping`, with no worker, and is retried.
pub async fn stop_failed(conn: &mut DbConn, id: i64, error: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET last_error = $1, state_changed_at = $2, worker = NULL WHERE id = $3 AND status = $4",
    )
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(ServerState::Stopping.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a stopped server's row. False when it is not stopped (or gone).
pub async fn delete_stopped(conn: &mut DbConn, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM servers WHERE id = $1 AND status = $2")
        .bind(id)
        .bind(ServerState::Stopped.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records activity seen by the proxy (batched by the caller).
pub async fn record_activity(conn: &mut DbConn, id: i64, at_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE servers SET last_activity = $1 WHERE id = $2 AND (last_activity IS NULL OR last_activity < $1)")
        .bind(at_ms)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE users SET last_activity = $1 WHERE id = (SELECT user_id FROM servers WHERE id = $2) \
         AND (last_activity IS NULL OR last_activity < $1)",
    )
    .bind(at_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates a stopped server with a recorded choice; false when it exists already.
pub async fn create_stopped(
    conn: &mut DbConn,
    user_id: i64,
    name: &ServerName,
    flavour: &str,
    size: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO servers (user_id, name, status, flavour, size, created_at, state_changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(user_id)
    .bind(name.as_str())
    .bind(ServerState::Stopped.as_str())
    .bind(flavour)
    .bind(size)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes the flavour and size of a stopped server; false when it is not stopped.
pub async fn set_choice_stopped(
    conn: &mut DbConn,
    id: i64,
    flavour: &str,
    size: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE servers SET flavour = $1, size = $2 WHERE id = $3 AND status = $4")
        .bind(flavour)
        .bind(size)
        .bind(id)
        .bind(ServerState::Stopped.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Renames a stopped server; false when it is not stopped or the name is taken.
pub async fn rename_stopped(conn: &mut DbConn, id: i64, new_name: &ServerName) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET name = $1 WHERE id = $2 AND status = $3 \
         AND NOT EXISTS (SELECT 1 FROM servers o WHERE o.user_id = servers.user_id AND o.name = $1)",
    )
    .bind(new_name.as_str())
    .bind(id)
    .bind(ServerState::Stopped.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands a stuck start or stop to `worker` (a reconcile that settles it). False when another
/// process took it meanwhile.
pub async fn take_over(
    conn: &mut DbConn,
    id: i64,
    state: ServerState,
    previous: Option<&str>,
    worker: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET worker = $1 WHERE id = $2 AND status = $3 AND (worker = $4 OR (worker IS NULL AND $4 IS NULL))",
    )
    .bind(worker)
    .bind(id)
    .bind(state.as_str())
    .bind(previous)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
