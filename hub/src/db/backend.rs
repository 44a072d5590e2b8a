//! Everything that differs between SQLite and PostgreSQL, and nothing else: which backend a URL
//! names, how a pool is opened for each, which migrations each runs, and the few statements that
//! only one of them needs. Every query elsewhere is the same text on both (see
//! `hub/migrations/README.md` for the rules that keep it so).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::AnyConnection;
use sqlx::{ConnectOptions, Connection};

use super::{DbError, Pool};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per pool.
const MAX_CONNECTIONS: u32 = 8;

/// The database systems the hub runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH`: the embedded default.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

/// A database URL of neither supported kind.
#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported database URL `{0}`: expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
)]
pub struct UnsupportedUrl(String);

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, UnsupportedUrl> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        match scheme.as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" if url[scheme.len()..].starts_with("://") => Ok(Self::Postgres),
            _ => Err(UnsupportedUrl(redact(url))),
        }
    }

    /// The backend a pool was opened on.
    pub fn of_pool(pool: &Pool) -> Self {
        match pool.connect_options().database_url.scheme() {
            "postgres" | "postgresql" => Self::Postgres,
            _ => Self::Sqlite,
        }
    }

    fn of_conn(conn: &AnyConnection) -> Self {
        if conn.backend_name() == "PostgreSQL" {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }

    /// This backend's migrations: same versions and descriptions, each in its own dialect.
    pub(super) fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Opens a pool on `url`. SQLite: the file (and its directory) is created when missing if
/// `create`, the journal is WAL, foreign keys are on, writers wait for each other up to
/// [`SQLITE_BUSY_TIMEOUT`]. PostgreSQL: the database must exist.
pub(super) async fn connect(url: &str, create: bool) -> Result<Pool, DbError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url)?;
    let shown = || redact(url);
    if backend == Backend::Sqlite {
        prepare_sqlite_file(url, create).await?;
    }
    AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if Backend::of_conn(conn) == Backend::Sqlite {
                    // The Any driver opens SQLite from the URL alone, so per-connection settings are PRAGMAs.
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "PRAGMA busy_timeout = {}",
                        SQLITE_BUSY_TIMEOUT.as_millis()
                    )))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|source| DbError::Connect { url: shown(), source })
}

/// Creates the SQLite file and its directory when missing (if `create`) and switches it to WAL,
/// which the file keeps: one native connection, closed again.
async fn prepare_sqlite_file(url: &str, create: bool) -> Result<(), DbError> {
    let connect_error = |source| DbError::Connect { url: redact(url), source };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(connect_error)?
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .disable_statement_logging();
    if create {
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| DbError::DataDir { path: parent.display().to_string(), source })?;
            }
        }
    }
    let conn = options.connect().await.map_err(connect_error)?;
    conn.close().await.map_err(connect_error)
}

/// Holds a lock named by `key` until the caller's transaction ends, so that a read-then-write
/// statement on behalf of one key (e.g. the sign-in limit) cannot interleave with another.
/// PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do — its writers are
/// serialised already (a write statement takes the database's write lock before it reads).
pub(super) async fn lock_key(conn: &mut AnyConnection, key: &str) -> Result<(), sqlx::Error> {
    if Backend::of_conn(conn) == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(conn).await?;
    }
    Ok(())
}

/// The hub's tables in the connected database (not the migrations' bookkeeping).
pub(super) async fn tables(conn: &mut AnyConnection) -> Result<Vec<String>, sqlx::Error> {
    let sql = match Backend::of_conn(conn) {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations' ORDER BY 1"
        }
    };
    sqlx::query_scalar(sql).fetch_all(conn).await
}

/// Makes the current transaction read from one snapshot (PostgreSQL: REPEATABLE READ; a SQLite
/// transaction reads from one snapshot already). Call right after `BEGIN`.
pub(super) async fn snapshot(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    if Backend::of_conn(conn) == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(conn).await?;
    }
    Ok(())
}

/// After rows were inserted with their ids, moves `table`'s id generator past the largest id
/// (PostgreSQL identity sequences do not follow explicit ids; SQLite's rowids do by themselves).
/// `table` is one of the hub's own table names, never input.
pub(super) async fn follow_ids(conn: &mut AnyConnection, table: &'static str) -> Result<(), sqlx::Error> {
    if Backend::of_conn(conn) == Backend::Postgres {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
        )))
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Backend::of_url("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("sqlite:x.db?mode=rwc").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of_url("PostgreSQL://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of_url("postgres:db").is_err());
        let err = Backend::of_url("mysql://root:hunter2@h/db").unwrap_err().to_string();
        assert!(err.contains("mysql://root:***@h/db"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://hub:pw@db:5432/hub?sslmode=require"),
            "postgres://hub:***@db:5432/hub?sslmode=require"
        );
        assert_eq!(redact("postgres://a:b:c@d@db/hub"), "postgres://a:***@db/hub");
        assert_eq!(redact("postgres://hub@db/hub"), "postgres://hub@db/hub");
        assert_eq!(
            redact("sqlite:///var/lib/ganymede/ganymede.db"),
            "sqlite:///var/lib/ganymede/ganymede.db"
        );
    }

    #[tokio::test]
    async fn a_sqlite_file_is_created_with_wal_foreign_keys_and_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new").join("dir").join("hub.db");
        let url = format!("sqlite://{}", file.display());
        assert!(super::super::connect_existing(&url).await.is_err(), "not created unless asked");
        assert!(!file.exists());
        let pool = super::super::connect(&url).await.unwrap();
        assert!(file.exists());
        assert_eq!(Backend::of_pool(&pool), Backend::Sqlite);
        let mut conn = pool.acquire().await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
        let foreign_keys: i64 =
            sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap();
        assert_eq!((journal.as_str(), foreign_keys, busy), ("wal", 1, 10_000));
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let versions =
            |m: &Migrator| m.iter().map(|m| (m.version, m.description.to_string())).collect::<Vec<_>>();
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
    }

    /// The SQLite files are the ones SQLite hubs have already applied: sqlx refuses a database
    /// whose applied migration's checksum changed.
    #[test]
    fn the_shipped_sqlite_migrations_are_unchanged() {
        let shipped: &[(i64, &str)] = &[
            (1, "78db445b8686bd4a956f"),
            (2, "49e0f717627d5f3ccc54"),
            (3, "4f5744923483f01085e9"),
            (4, "0a4a080f38909d29fedc"),
        ];
        for (version, prefix) in shipped {
            let m = SQLITE_MIGRATIONS.iter().find(|m| m.version == *version).unwrap();
            assert!(hex::encode(&m.checksum).starts_with(prefix), "migration {version} changed");
        }
    }
}
