//! `ganymede db copy`: moves a hub's whole database to another one, in either direction between
//! SQLite and PostgreSQL (or between two of a kind).
//!
//! The target is migrated first and must hold no rows (but for `hub_settings`, which a hub
//! started on it once fills by itself and which the source's rows replace, so the copy keeps
//! the hub id its containers are labelled with). Every row of every table is copied with its id
//! in one transaction on the target; the source is read from one snapshot and never written.
//! Columns are found from the target's schema, so a migration that adds columns needs nothing
//! here; a migration that adds a table adds it to [`TABLES`] (a test and the copy itself refuse a
//! table missing there).

use futures_util::TryStreamExt;
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::migrate::Migrate;
use sqlx::AnyConnection;
use sqlx::{Column, Executor, Row, SqlSafeStr, Statement, TypeInfo};

use super::backend::{self, redact, Backend};
use super::{DbError, Pool};

/// Every table of the hub, parents before children (the order rows can be inserted in).
pub const TABLES: &[&str] = &[
    "users",
    "groups",
    "group_members",
    "sessions",
    "servers",
    "gpu_claims",
    "gpu_sessions",
    "gpu_limit_overrides",
    "oauth_clients",
    "oauth_codes",
    "api_tokens",
    "shares",
    "share_codes",
    "announcements",
    "samples",
    "events",
    "login_failures",
    "oidc_logins",
    "hub_settings",
    "locks",
    "leases",
];

/// Tables a hub fills by itself on its first start (its id, the lifecycle lock, its leases): the
/// target's rows are replaced, not refused.
const REPLACED: &[&str] = &["hub_settings", "locks", "leases"];

/// Values bound per `INSERT` statement (well under both backends' limits).
const VALUES_PER_INSERT: usize = 900;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source and the target are the same database ({0})")]
    SameDatabase(String),
    #[error("cannot open the source database: {0}")]
    Source(DbError),
    #[error("cannot open or migrate the target database: {0}")]
    Target(DbError),
    #[error("the source database {url} is not a Ganymede database (it has no applied migrations)")]
    NotAHub { url: String },
    #[error(
        "the source database {url} has migrations {found:?} applied but this ganymede has {expected:?}: {hint}"
    )]
    SourceSchema { url: String, found: Vec<i64>, expected: Vec<i64>, hint: &'static str },
    #[error(
        "the target database {url} is not empty: table {table} has {rows} row(s); copy into a new, empty database"
    )]
    TargetNotEmpty { url: String, table: &'static str, rows: i64 },
    #[error("the {side} database has a table `{table}` that is not Ganymede's; refusing to copy")]
    UnknownTable { side: &'static str, table: String },
    #[error(
        "column {table}.{column} has the type {kind}, which `db copy` does not copy (only integers and text)"
    )]
    ColumnType { table: &'static str, column: String, kind: String },
    #[error("copying table {table} failed: {source}")]
    Table { table: &'static str, source: sqlx::Error },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("cannot read the source's migrations: {0}")]
    Migrations(#[from] sqlx::migrate::MigrateError),
}

/// What was copied: rows per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub source: Backend,
    pub target: Backend,
    pub tables: Vec<(&'static str, u64)>,
}

/// Copies the database at `from_url` into the one at `to_url` (created when it is a missing SQLite
/// file; a PostgreSQL database must exist). Stop the hub first: rows it writes during the copy
/// are not in the copy.
pub async fn copy(from_url: &str, to_url: &str) -> Result<CopyReport, CopyError> {
    if from_url == to_url {
        return Err(CopyError::SameDatabase(redact(from_url)));
    }
    let source = super::connect_existing(from_url).await.map_err(CopyError::Source)?;
    check_source_schema(&source, from_url).await?;
    let target = super::connect(to_url).await.map_err(CopyError::Target)?;
    super::migrate(&target).await.map_err(CopyError::Target)?;

    let mut read = source.begin().await?;
    backend::snapshot(&mut read).await?;
    let mut write = target.begin().await?;
    only_known_tables(&mut read, "source").await?;
    only_known_tables(&mut write, "target").await?;
    for table in TABLES.iter().filter(|t| !REPLACED.contains(t)) {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *write)
            .await?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty { url: redact(to_url), table, rows });
        }
    }

    let mut report = CopyReport {
        source: Backend::of_pool(&source),
        target: Backend::of_pool(&target),
        tables: Vec::new(),
    };
    for table in TABLES {
        let copied = copy_table(&mut read, &mut write, table).await?;
        report.tables.push((table, copied));
    }
    write.commit().await?;
    read.rollback().await?;
    source.close().await;
    target.close().await;
    Ok(report)
}

/// The source must have exactly this binary's migrations applied, so both sides have one schema.
async fn check_source_schema(source: &Pool, url: &str) -> Result<(), CopyError> {
    let migrator = Backend::of_pool(source).migrator();
    let expected: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let mut conn = source.acquire().await?;
    if backend::tables(&mut conn).await?.is_empty() {
        return Err(CopyError::NotAHub { url: redact(url) });
    }
    let mut found: Vec<i64> =
        conn.list_applied_migrations(&migrator.table_name).await?.iter().map(|m| m.version).collect();
    found.sort_unstable();
    if found.is_empty() {
        return Err(CopyError::NotAHub { url: redact(url) });
    }
    if found != expected {
        let hint = if found.iter().all(|v| expected.contains(v)) {
            "bring it up to date first (`ganymede db migrate` with database.url set to it)"
        } else {
            "it was migrated by a newer ganymede; copy it with that version"
        };
        return Err(CopyError::SourceSchema { url: redact(url), found, expected, hint });
    }
    Ok(())
}

async fn only_known_tables(conn: &mut AnyConnection, side: &'static str) -> Result<(), CopyError> {
    match backend::tables(conn).await?.into_iter().find(|t| !TABLES.contains(&t.as_str())) {
        Some(table) => Err(CopyError::UnknownTable { side, table }),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Integer,
    Text,
}

enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
}

/// The target's columns of `table`, with how each is read and written.
async fn columns(conn: &mut AnyConnection, table: &'static str) -> Result<Vec<(String, Kind)>, CopyError> {
    let statement =
        conn.prepare(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")).into_sql_str()).await?;
    statement
        .columns()
        .iter()
        .map(|c| {
            let kind = match c.type_info().kind() {
                AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                    Kind::Integer
                }
                AnyTypeInfoKind::Text => Kind::Text,
                _ => {
                    return Err(CopyError::ColumnType {
                        table,
                        column: c.name().to_owned(),
                        kind: c.type_info().name().to_owned(),
                    })
                }
            };
            Ok((c.name().to_owned(), kind))
        })
        .collect()
}

async fn copy_table(
    read: &mut AnyConnection,
    write: &mut AnyConnection,
    table: &'static str,
) -> Result<u64, CopyError> {
    let failed = |source| CopyError::Table { table, source };
    let columns = columns(write, table).await?;
    let names = columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    let has_id = columns.iter().any(|(n, _)| n == "id");
    // Generated ids (integers) must be followed on PostgreSQL; a text id (a client id) is not generated.
    let generated_id = columns.iter().any(|(n, k)| n == "id" && matches!(k, Kind::Integer));
    if REPLACED.contains(&table) {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *write).await?;
    }
    let order = if has_id { " ORDER BY id" } else { "" };
    let select = format!("SELECT {names} FROM {table}{order}");
    let per_insert = (VALUES_PER_INSERT / columns.len().max(1)).max(1);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *read);
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_insert);
    let mut copied = 0u64;
    while let Some(row) = rows.try_next().await.map_err(failed)? {
        batch.push(read_row(&row, &columns).map_err(failed)?);
        if batch.len() == per_insert {
            copied += insert(write, table, &names, columns.len(), &mut batch).await.map_err(failed)?;
        }
    }
    drop(rows);
    copied += insert(write, table, &names, columns.len(), &mut batch).await.map_err(failed)?;
    if generated_id {
        backend::follow_ids(write, table).await.map_err(failed)?;
    }
    Ok(copied)
}

fn read_row(row: &AnyRow, columns: &[(String, Kind)]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Kind::Integer => Value::Integer(row.try_get(i)?),
                Kind::Text => Value::Text(row.try_get(i)?),
            })
        })
        .collect()
}

/// Inserts the batch's rows in one statement and empties the batch.
async fn insert(
    write: &mut AnyConnection,
    table: &str,
    names: &str,
    width: usize,
    batch: &mut Vec<Vec<Value>>,
) -> Result<u64, sqlx::Error> {
    if batch.is_empty() {
        return Ok(0);
    }
    let tuples = (0..batch.len())
        .map(|r| format!("({})", super::placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("INSERT INTO {table} ({names}) VALUES {tuples}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in batch.drain(..).flatten() {
        query = match value {
            Value::Integer(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
        };
    }
    Ok(query.execute(write).await?.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migration that adds a table must add it to [`TABLES`], or the copy would lose it.
    #[tokio::test]
    async fn every_table_of_the_schema_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = crate::db::testing::ScratchDatabase::from_env();
        let url = match &scratch {
            Some(db) => db.url().to_owned(),
            None => format!("sqlite://{}", dir.path().join("t.db").display()),
        };
        let pool = crate::db::connect(&url).await.unwrap();
        crate::db::migrate(&pool).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let mut tables = backend::tables(&mut conn).await.unwrap();
        tables.sort();
        let mut known: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        known.sort();
        assert_eq!(tables, known);
        drop(conn);
        pool.close().await;
    }
}
