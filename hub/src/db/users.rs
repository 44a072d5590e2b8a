//! `users` and `login_failures`.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{flag, now_ms, Db, DbConn, Pool};
use crate::domain::UserName;
use crate::stored::ServerState;

/// A row of `users`. The password hash stays inside the hub crate's account logic.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub approved: bool,
    pub blocked: bool,
    pub auth_source: String,
    pub created_at: i64,
    pub last_activity: Option<i64>,
}

impl<'r> FromRow<'r, AnyRow> for UserRow {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            password_hash: row.try_get("password_hash")?,
            is_admin: flag(row, "is_admin")?,
            approved: flag(row, "approved")?,
            blocked: flag(row, "blocked")?,
            auth_source: row.try_get("auth_source")?,
            created_at: row.try_get("created_at")?,
            last_activity: row.try_get("last_activity")?,
        })
    }
}

/// The columns of [`UserRow`], as a literal so queries stay static strings.
macro_rules! user_columns {
    () => {
        "id, name, password_hash, is_admin, approved, blocked, auth_source, created_at, last_activity"
    };
}

pub async fn by_name(pool: &Pool, name: &UserName) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE name = $1"))
        .bind(name.as_str())
        .fetch_optional(pool)
        .await
}

pub async fn by_id(pool: &Pool, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn list(pool: &Pool) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users ORDER BY name"))
        .fetch_all(pool)
        .await
}

/// Users active at or after `since` (ms).
pub async fn active_since(conn: &mut DbConn, since: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE last_activity >= $1")
        .bind(since)
        .fetch_one(&mut *conn)
        .await
}

pub async fn count(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(pool).await
}

pub struct NewUser<'a> {
    pub name: &'a UserName,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub approved: bool,
}

/// Inserts a user; `Ok(None)` when the name is taken.
pub async fn insert<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user: NewUser<'_>,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(concat!(
        "INSERT INTO users (name, password_hash, is_admin, approved, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO NOTHING RETURNING ",
        user_columns!()
    ))
    .bind(user.name.as_str())
    .bind(user.password_hash)
    .bind(i64::from(user.is_admin))
    .bind(i64::from(user.approved))
    .bind(now_ms())
    .fetch_optional(ex)
    .await
}

/// Deletes a user (sessions, tokens, memberships and servers go with it). Returns whether a row went.
pub async fn delete<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    name: &UserName,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM users WHERE name = $1").bind(name.as_str()).execute(ex).await?;
    Ok(done.rows_affected() > 0)
}

/// Users idle since before `cutoff` (by their last activity, else when they were made) with no
/// server that is not stopped; admins only when `admins`.
pub async fn idle_since_before(pool: &Pool, cutoff: i64, admins: bool) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE COALESCE(last_activity, created_at) < $1 AND ($2 = 1 OR is_admin = 0) \
         AND NOT EXISTS (SELECT 1 FROM servers s WHERE s.user_id = users.id AND s.status <> $3) ORDER BY name"
    ))
    .bind(cutoff)
    .bind(i64::from(admins))
    .bind(ServerState::Stopped.as_str())
    .fetch_all(pool)
    .await
}

/// Deletes the user when still idle since before `cutoff` with every server stopped (they may
/// have signed in or started one since they were listed).
pub async fn delete_if_idle(conn: &mut DbConn, name: &UserName, cutoff: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM users WHERE name = $1 AND COALESCE(last_activity, created_at) < $2 \
         AND NOT EXISTS (SELECT 1 FROM servers s WHERE s.user_id = users.id AND s.status <> $3)",
    )
    .bind(name.as_str())
    .bind(cutoff)
    .bind(ServerState::Stopped.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_admin<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    name: &UserName,
    admin: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE name = $2")
        .bind(i64::from(admin))
        .bind(name.as_str())
        .execute(ex)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_approved<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    name: &UserName,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE users SET approved = 1 WHERE name = $1").bind(name.as_str()).execute(ex).await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_password_hash<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2").bind(hash).bind(id).execute(ex).await?;
    Ok(())
}

pub async fn touch(pool: &Pool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET last_activity = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Claims one sign-in attempt for `username` from `client`: records it as a failure unless
/// `max_failures` are already recorded since `since_ms`. One statement under a lock on the
/// (name, client) pair, so concurrent attempts cannot all slip under the limit. `None`: locked out.
pub async fn claim_attempt(
    pool: &Pool,
    username: &str,
    client: &str,
    since_ms: i64,
    max_failures: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    super::backend::lock_key(&mut tx, &format!("login_failures\n{username}\n{client}")).await?;
    let claimed = sqlx::query_scalar::<_, i64>(
        "INSERT INTO login_failures (username, client, at) SELECT $1, $2, $3 \
         WHERE (SELECT COUNT(*) FROM login_failures WHERE username = $1 AND client = $2 AND at >= $4) < $5 \
         RETURNING id",
    )
    .bind(username)
    .bind(client)
    .bind(now_ms())
    .bind(since_ms)
    .bind(max_failures)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// Takes back a claimed attempt that was never checked (the hub was too busy).
pub async fn release_attempt(pool: &Pool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

/// The oldest failure of `username` from `client` inside the window, to tell when the lockout ends.
pub async fn oldest_failure_since(
    pool: &Pool,
    username: &str,
    client: &str,
    since_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MIN(at) FROM login_failures WHERE username = $1 AND client = $2 AND at >= $3",
    )
    .bind(username)
    .bind(client)
    .bind(since_ms)
    .fetch_one(pool)
    .await
}

/// Forgets the failures of `username` from `client` (after a successful sign-in from there).
pub async fn clear_client_failures(pool: &Pool, username: &str, client: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE username = $1 AND client = $2")
        .bind(username)
        .bind(client)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets every failure of `username`, from any client; returns how many there were.
pub async fn clear_failures<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    username: &str,
) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM login_failures WHERE username = $1").bind(username).execute(ex).await?;
    Ok(done.rows_affected())
}

/// Forgets failures older than `before_ms` (housekeeping).
pub async fn prune_failures(pool: &Pool, before_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(before_ms).execute(pool).await?;
    Ok(done.rows_affected())
}

/// Which users a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    Any,
    /// Some server pending or running.
    Active,
    /// Some server running.
    Ready,
    /// No server pending or running.
    Inactive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Name,
    LastActivity,
}

/// One page of users: filters, order, window.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    pub state: StateFilter,
    pub sort: SortKey,
    pub descending: bool,
    /// Substring of the name.
    pub name_filter: Option<String>,
    /// Only these users and members of these groups (a token's `!user=` / `!group=` filters);
    /// `None`: everyone.
    pub visible: Option<(Vec<String>, Vec<String>)>,
    pub offset: i64,
    pub limit: i64,
}

/// Builds the WHERE clause from fixed fragments and placeholders only; returns it with the text
/// values to bind, in order.
fn where_clause(q: &PageQuery) -> (String, Vec<String>) {
    let active = ServerState::active().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    match q.state {
        StateFilter::Any => {}
        StateFilter::Active => clauses.push(format!(
            "EXISTS (SELECT 1 FROM servers s WHERE s.user_id = u.id AND s.status IN ({active}))"
        )),
        StateFilter::Ready => clauses.push(format!(
            "EXISTS (SELECT 1 FROM servers s WHERE s.user_id = u.id AND s.status = '{}')",
            ServerState::Running.as_str()
        )),
        StateFilter::Inactive => clauses.push(format!(
            "NOT EXISTS (SELECT 1 FROM servers s WHERE s.user_id = u.id AND s.status IN ({active}))"
        )),
    }
    if let Some(f) = &q.name_filter {
        binds.push(super::like_pattern(f));
        clauses.push(format!("LOWER(u.name) LIKE LOWER(${}) ESCAPE '\\'", binds.len()));
    }
    if let Some((users, groups)) = &q.visible {
        let mut either = vec!["1 = 0".to_owned()];
        if !users.is_empty() {
            either.push(format!("u.name IN ({})", super::placeholders(binds.len() + 1, users.len())));
            binds.extend(users.iter().cloned());
        }
        if !groups.is_empty() {
            either.push(format!(
                "EXISTS (SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id \
                 WHERE m.user_id = u.id AND g.name IN ({}))",
                super::placeholders(binds.len() + 1, groups.len())
            ));
            binds.extend(groups.iter().cloned());
        }
        clauses.push(format!("({})", either.join(" OR ")));
    }
    let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, binds)
}

/// One page of users and the total that match, in at most two indexed queries: the cost follows
/// the page size, not the number of users.
pub async fn page(pool: &Pool, q: &PageQuery) -> Result<(Vec<UserRow>, i64), sqlx::Error> {
    let (filter, binds) = where_clause(q);
    let order = match (q.sort, q.descending) {
        (SortKey::Id, false) => "u.id ASC",
        (SortKey::Id, true) => "u.id DESC",
        (SortKey::Name, false) => "u.name ASC",
        (SortKey::Name, true) => "u.name DESC",
        // Never-active users sort last either way.
        (SortKey::LastActivity, false) => "u.last_activity IS NULL, u.last_activity ASC, u.id ASC",
        (SortKey::LastActivity, true) => "u.last_activity IS NULL, u.last_activity DESC, u.id ASC",
    };
    let (limit_param, offset_param) = (format!("${}", binds.len() + 1), format!("${}", binds.len() + 2));
    let sql = format!(
        "SELECT u.id, u.name, u.password_hash, u.is_admin, u.approved, u.blocked, u.auth_source, u.created_at, \
         u.last_activity FROM users u {filter} ORDER BY {order} LIMIT {limit_param} OFFSET {offset_param}"
    );
    let count_sql = format!("SELECT COUNT(*) FROM users u {filter}");
    let mut rows = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql));
    let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
    for value in &binds {
        rows = rows.bind(value.clone());
        count = count.bind(value.clone());
    }
    let rows = rows.bind(q.limit).bind(q.offset).fetch_all(pool).await?;
    // A page that is not full and starts at a row that exists is the last: it tells the total
    // itself, and the count is not asked (a listing of a small hub is one query fewer).
    let len = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let total = if len < q.limit && (len > 0 || q.offset == 0) {
        q.offset.saturating_add(len)
    } else {
        count.fetch_one(pool).await?
    };
    Ok((rows, total))
}

pub async fn rename<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
    new_name: &UserName,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET name = $1 WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM users WHERE name = $1)",
    )
    .bind(new_name.as_str())
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_last_activity(conn: &mut DbConn, id: i64, at_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET last_activity = $1 WHERE id = $2 AND (last_activity IS NULL OR last_activity < $1)",
    )
    .bind(at_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks how the account signs in (`local`, `oidc`).
pub async fn set_auth_source<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
    source: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET auth_source = $1 WHERE id = $2").bind(source).bind(id).execute(ex).await?;
    Ok(())
}
