//! `gpu_sessions`: the GPU meter. A row opens in the transaction that claims a server's GPUs and
//! closes in the one that releases them, so GPU-hours are exactly the time GPUs were held.

use sqlx::Row;

use super::{Db, DbConn};

/// One GPU session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: i64,
    pub server_id: Option<i64>,
    pub user_id: i64,
    pub user_name: String,
    pub server_name: String,
    pub size: String,
    pub uuids: Vec<String>,
    pub units_milli: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub limit_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub deadline_reason: Option<String>,
    pub warned_at: Option<i64>,
    pub idle_since: Option<i64>,
}

const SELECT: &str =
    "SELECT g.id, g.server_id, g.user_id, u.name AS user_name, g.server_name, g.size, g.uuids, \
     g.units_milli, g.started_at, g.ended_at, g.end_reason, g.limit_at, g.deadline_at, g.deadline_reason, \
     g.warned_at, g.idle_since FROM gpu_sessions g JOIN users u ON u.id = g.user_id ";

fn parse(r: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    let uuids: String = r.try_get("uuids")?;
    Ok(SessionRow {
        id: r.try_get("id")?,
        server_id: r.try_get("server_id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        server_name: r.try_get("server_name")?,
        size: r.try_get("size")?,
        uuids: uuids.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        units_milli: r.try_get("units_milli")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        end_reason: r.try_get("end_reason")?,
        limit_at: r.try_get("limit_at")?,
        deadline_at: r.try_get("deadline_at")?,
        deadline_reason: r.try_get("deadline_reason")?,
        warned_at: r.try_get("warned_at")?,
        idle_since: r.try_get("idle_since")?,
    })
}

/// What a new session records.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub server_id: i64,
    pub user_id: i64,
    pub server_name: &'a str,
    pub size: &'a str,
    pub uuids: &'a [String],
    pub units_milli: i64,
    pub limit_at: Option<i64>,
}

pub async fn open(conn: &mut DbConn, s: NewSession<'_>, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gpu_sessions (server_id, user_id, server_name, size, uuids, units_milli, started_at, limit_at, \
         deadline_at, deadline_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, CASE WHEN $8 IS NULL THEN NULL ELSE 'session-length' END)",
    )
    .bind(s.server_id)
    .bind(s.user_id)
    .bind(s.server_name)
    .bind(s.size)
    .bind(s.uuids.join(","))
    .bind(s.units_milli)
    .bind(now)
    .bind(s.limit_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes the server's open session (if any), saying why it ended when it was not asked for.
pub async fn close(
    conn: &mut DbConn,
    server_id: i64,
    reason: Option<&str>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE gpu_sessions SET ended_at = $1, end_reason = COALESCE(end_reason, $2) \
         WHERE server_id = $3 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(server_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Says why the hub is stopping the server, while the stop is under way.
pub async fn set_end_reason(conn: &mut DbConn, server_id: i64, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE gpu_sessions SET end_reason = $1 WHERE server_id = $2 AND ended_at IS NULL")
        .bind(reason)
        .bind(server_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Closes open sessions whose server is not active (left by a path that did not close them).
pub async fn close_inactive(conn: &mut DbConn, now: i64) -> Result<u64, sqlx::Error> {
    let active = crate::stored::ServerState::active()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE gpu_sessions SET ended_at = $1, end_reason = COALESCE(end_reason, 'the server was no longer running') \
         WHERE ended_at IS NULL AND (server_id IS NULL OR server_id NOT IN (SELECT id FROM servers WHERE status IN ({active})))"
    )))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Sessions open now (GPUs held), oldest first.
pub async fn open_sessions<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT}WHERE g.ended_at IS NULL ORDER BY g.started_at, g.id"
    )))
    .fetch_all(ex)
    .await?;
    rows.iter().map(parse).collect()
}

/// The open session of one server.
pub async fn open_of_server<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    server_id: i64,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT}WHERE g.server_id = $1 AND g.ended_at IS NULL")))
            .bind(server_id)
            .fetch_optional(ex)
            .await?;
    row.as_ref().map(parse).transpose()
}

/// One user's sessions that overlap `[since, now]`, newest first.
pub async fn of_user_since<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
    since: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT}WHERE g.user_id = $1 AND (g.ended_at IS NULL OR g.ended_at > $2) ORDER BY g.started_at DESC, g.id DESC"
    )))
    .bind(user_id)
    .bind(since)
    .fetch_all(ex)
    .await?;
    rows.iter().map(parse).collect()
}

/// Everyone's sessions that overlap `[since, now]`, for the admin's usage report.
pub async fn all_since<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    since: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT}WHERE g.ended_at IS NULL OR g.ended_at > $1 ORDER BY u.name, g.started_at"
    )))
    .bind(since)
    .fetch_all(ex)
    .await?;
    rows.iter().map(parse).collect()
}

/// Records the deadline the meter computed; clears the warning when the deadline moved later.
pub async fn set_deadline(
    conn: &mut DbConn,
    id: i64,
    deadline: Option<(i64, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE gpu_sessions SET deadline_at = $1, deadline_reason = $2, \
         warned_at = CASE WHEN deadline_at IS NULL OR $1 IS NULL OR $1 > deadline_at THEN NULL ELSE warned_at END \
         WHERE id = $3",
    )
    .bind(deadline.map(|d| d.0))
    .bind(deadline.map(|d| d.1))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks the owner warned; false when they already were.
pub async fn mark_warned(conn: &mut DbConn, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE gpu_sessions SET warned_at = $1 WHERE id = $2 AND warned_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the length limit later (an extension) and clears the warning.
pub async fn extend(conn: &mut DbConn, id: i64, limit_at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE gpu_sessions SET limit_at = $1, warned_at = NULL, \
         deadline_at = CASE WHEN deadline_reason = 'session-length' THEN $1 ELSE deadline_at END \
         WHERE id = $2 AND ended_at IS NULL",
    )
    .bind(limit_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Since when the session's GPUs read idle (`None`: busy, or not known).
pub async fn set_idle_since(conn: &mut DbConn, id: i64, since: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE gpu_sessions SET idle_since = $1 WHERE id = $2")
        .bind(since)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Units held now by one user's servers and how many of their servers hold any.
pub async fn holding_of(conn: &mut DbConn, user_id: i64) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS units, COUNT(DISTINCT c.server_id) AS servers FROM gpu_claims c \
         JOIN servers s ON s.id = c.server_id WHERE s.user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get("units")?, row.try_get("servers")?))
}
