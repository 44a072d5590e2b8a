//! `servers`: one row per (user, server name); `status` is the state machine
//! stopped → pending → running → stopping → stopped, changed only by conditional updates so
//! concurrent requests cannot both win.

use sqlx::FromRow;

use super::{now_ms, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct ServerRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub name: String,
    pub status: String,
    pub flavour: Option<String>,
    pub size: Option<String>,
    pub url: Option<String>,
    pub spawner_state: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub last_activity: Option<i64>,
}

macro_rules! server_select {
    () => {
        "SELECT s.id, s.user_id, u.name AS user_name, s.name, s.status, s.flavour, s.size, s.url, \
         s.spawner_state, s.created_at, s.started_at, s.last_activity FROM servers s JOIN users u ON u.id = s.user_id "
    };
}

pub async fn for_user(pool: &Pool, user_id: i64) -> Result<Vec<ServerRow>, sqlx::Error> {
    sqlx::query_as::<_, ServerRow>(concat!(server_select!(), "WHERE s.user_id = $1 ORDER BY s.name"))
        .bind(user_id)
        .fetch_all(pool)
        .await
}

pub async fn get(pool: &Pool, user_id: i64, name: &str) -> Result<Option<ServerRow>, sqlx::Error> {
    sqlx::query_as::<_, ServerRow>(concat!(server_select!(), "WHERE s.user_id = $1 AND s.name = $2"))
        .bind(user_id)
        .bind(name)
        .fetch_optional(pool)
        .await
}

pub async fn with_status(pool: &Pool, status: &str) -> Result<Vec<ServerRow>, sqlx::Error> {
    sqlx::query_as::<_, ServerRow>(concat!(server_select!(), "WHERE s.status = $1"))
        .bind(status)
        .fetch_all(pool)
        .await
}

/// Makes sure the row exists (stopped when new).
pub async fn ensure(pool: &Pool, user_id: i64, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO servers (user_id, name, status, created_at) VALUES ($1, $2, 'stopped', $3) \
         ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(user_id)
    .bind(name)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn count_named(pool: &Pool, user_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE user_id = $1 AND name <> ''")
        .bind(user_id)
        .fetch_one(pool)
        .await
}

/// stopped → pending, recording the choice and the workload the spawner is about to make (so a
/// hub killed mid-start can find it). False when the server was not stopped.
pub async fn begin_start(
    pool: &Pool,
    id: i64,
    flavour: &str,
    size: &str,
    planned_state: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET status = 'pending', flavour = $1, size = $2, url = NULL, spawner_state = $3 \
         WHERE id = $4 AND status = 'stopped'",
    )
    .bind(flavour)
    .bind(size)
    .bind(planned_state)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// pending → running.
pub async fn mark_running(pool: &Pool, id: i64, url: &str, state: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE servers SET status = 'running', url = $1, spawner_state = $2, started_at = $3, last_activity = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(url)
    .bind(state)
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A running server's new address (its engine moved it, e.g. `docker restart`). False when the
/// row is no longer running.
pub async fn set_url(pool: &Pool, id: i64, url: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE servers SET url = $1 WHERE id = $2 AND status = 'running'")
        .bind(url)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// running → stopping. False when it was not running.
pub async fn begin_stop(pool: &Pool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE servers SET status = 'stopping' WHERE id = $1 AND status = 'running'")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// any → stopped.
pub async fn mark_stopped(pool: &Pool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE servers SET status = 'stopped', url = NULL, spawner_state = '{}', started_at = NULL WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes a stopped server's row. False when it is not stopped (or gone).
pub async fn delete_stopped(pool: &Pool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM servers WHERE id = $1 AND status = 'stopped'")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records activity seen by the proxy (batched by the caller).
pub async fn record_activity(pool: &Pool, id: i64, at_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE servers SET last_activity = $1 WHERE id = $2 AND (last_activity IS NULL OR last_activity < $1)")
        .bind(at_ms)
        .bind(id)
        .execute(pool)
        .await?;
    sqlx::query(
        "UPDATE users SET last_activity = $1 WHERE id = (SELECT user_id FROM servers WHERE id = $2) \
         AND (last_activity IS NULL OR last_activity < $1)",
    )
    .bind(at_ms)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Servers in one of the given states, across all users.
pub async fn count_with_status(pool: &Pool, statuses: &[&str]) -> Result<i64, sqlx::Error> {
    let mut total = 0;
    for status in statuses {
        total += sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM servers WHERE status = $1")
            .bind(*status)
            .fetch_one(pool)
            .await?;
    }
    Ok(total)
}

/// Creates a stopped server with a recorded choice; false when it exists already.
pub async fn create_stopped(
    pool: &Pool,
    user_id: i64,
    name: &str,
    flavour: &str,
    size: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO servers (user_id, name, status, flavour, size, created_at) VALUES ($1, $2, 'stopped', $3, $4, $5) \
         ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(user_id)
    .bind(name)
    .bind(flavour)
    .bind(size)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Changes the flavour and size of a stopped server; false when it is not stopped.
pub async fn set_choice_stopped(
    pool: &Pool,
    id: i64,
    flavour: &str,
    size: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE servers SET flavour = $1, size = $2 WHERE id = $3 AND status = 'stopped'")
        .bind(flavour)
        .bind(size)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Renames a stopped server; false when it is not stopped or the name is taken.
pub async fn rename_stopped(pool: &Pool, id: i64, new_name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE servers SET name = $1 WHERE id = $2 AND status = 'stopped' \
         AND NOT EXISTS (SELECT 1 FROM servers o WHERE o.user_id = servers.user_id AND o.name = $1)",
    )
    .bind(new_name)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The servers of several users at once (one page of a user list), ordered by user and name.
pub async fn for_users(pool: &Pool, user_ids: &[i64]) -> Result<Vec<ServerRow>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{}WHERE s.user_id IN ({}) ORDER BY s.user_id, s.name",
        server_select!(),
        super::placeholders(1, user_ids.len())
    );
    let mut query = sqlx::query_as::<_, ServerRow>(sqlx::AssertSqlSafe(sql));
    for id in user_ids {
        query = query.bind(id);
    }
    query.fetch_all(pool).await
}
