//! The database: connection, migrations and one module of queries per table.
//!
//! Queries take a `&Pool` (or a transaction) and return domain rows. One binary serves SQLite and
//! PostgreSQL through sqlx's `Any` driver: every query is the same text on both (placeholders `$N`,
//! `BIGINT` times and 0/1 flags, `TEXT` JSON); what differs lives in [`backend`] alone.

pub mod announcements;
pub mod backend;
pub mod backup;
pub mod copy;
pub mod events;
pub mod gpu_claims;
pub mod gpu_limits;
pub mod gpu_sessions;
pub mod groups;
pub mod leases;
pub mod oauth;
pub mod oidc_logins;
pub mod samples;
pub mod servers;
pub mod sessions;
pub mod settings;
pub mod shares;
/// Test support (a scratch database per test), compiled always so that the server's tests and the
/// binary share one build of this crate.
#[doc(hidden)]
pub mod testing;
pub mod tokens;
pub mod users;

pub use backend::Backend;

/// The database: SQLite or PostgreSQL, chosen by the URL at run time (sqlx's `Any` driver).
pub type Db = sqlx::Any;
pub type Pool = sqlx::Pool<Db>;
/// One connection, or a transaction (`&mut *tx`): what writes that belong to a transaction take.
pub type DbConn = <Db as sqlx::Database>::Connection;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Url(#[from] backend::UnsupportedUrl),
    #[error("cannot open the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Opens the pool on a `sqlite://` or `postgres://` URL; a missing SQLite file is created.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    backend::connect(url, true).await
}

/// Opens the pool on a database that must exist already (SQLite: the file is not created).
pub async fn connect_existing(url: &str) -> Result<Pool, DbError> {
    backend::connect(url, false).await
}

/// Applies every embedded migration of the pool's backend that has not run yet.
pub async fn migrate(pool: &Pool) -> Result<(), DbError> {
    Backend::of_pool(pool).migrator().run(pool).await?;
    Ok(())
}

/// A 0/1 flag column (`BIGINT` on both backends) as a `bool`.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Milliseconds since the Unix epoch, the unit of every time column.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Names of the groups a user belongs to, sorted.
pub async fn groups_of(pool: &Pool, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// A `LIKE … ESCAPE '\'` pattern matching `filter` anywhere, its wildcards taken literally.
/// Compare it as `LOWER(column) LIKE LOWER($n) ESCAPE '\'`: SQLite's LIKE ignores ASCII case,
/// PostgreSQL's does not, so both sides are lowered to match alike on both.
pub(crate) fn like_pattern(filter: &str) -> String {
    let escaped = filter.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// `$first, $first+1, …` for `n` values: the only SQL ever built at run time is placeholders.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
