//! The database: connection, migrations and one module of queries per table.
//!
//! Queries take a `&Pool` (or a transaction) and return domain rows. SQL is portable; placeholders are `$N`.

pub mod events;
pub mod groups;
pub mod leases;
pub mod oidc_logins;
pub mod servers;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

/// The database backend. A type alias, so that adding PostgreSQL changes one place.
pub type Db = sqlx::Sqlite;
pub type Pool = sqlx::Pool<Db>;
/// One connection, or a transaction (`&mut *tx`): what writes that belong to a transaction take.
pub type DbConn = <Db as sqlx::Database>::Connection;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// Opens the pool. For SQLite: creates the file when missing, WAL journal, foreign keys on.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|source| DbError::Connect { url: url.to_owned(), source })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    if let Some(parent) = options.get_filename().parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::create_dir_all(parent)
                .map_err(|source| DbError::DataDir { path: parent.display().to_string(), source })?;
        }
    }
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect { url: url.to_owned(), source })
}

/// Applies every embedded migration that has not run yet.
pub async fn migrate(pool: &Pool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Milliseconds since the Unix epoch, the unit of every time column.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

static AUTH_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bumped by every write that can end a session or change what a signed-in user may do
/// (sign-out, password change, admin flag, deletion), so cached sessions are dropped at once.
pub fn auth_generation() -> u64 {
    AUTH_GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

pub(crate) fn bump_auth_generation() {
    AUTH_GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
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
pub(crate) fn like_pattern(filter: &str) -> String {
    let escaped = filter.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// `$first, $first+1, …` for `n` values: the only SQL ever built at run time is placeholders.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
