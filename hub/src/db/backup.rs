//! `ganymede db backup FILE`: an online, consistent copy of an SQLite database while the hub
//! runs (`VACUUM INTO` reads one snapshot, as any reader; writers go on), checked before it is
//! called done. PostgreSQL has its own tool for this: the command says to use `pg_dump`.

use std::path::{Path, PathBuf};

use sqlx::Row;

use super::{backend::redact, Backend, DbError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "{url} is a PostgreSQL database: back it up with PostgreSQL's own tool, which copies it \
         consistently while the hub runs: pg_dump --format=custom --file={file} '{url}' \
         (restore with pg_restore --clean --dbname=URL {file}, the hub stopped)"
    )]
    UsePgDump { url: String, file: String },
    #[error("{0} already exists; a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("the backup at {path} failed its integrity check: {problem}")]
    Damaged { path: PathBuf, problem: String },
    #[error("the backup could not be written to {path}: {source}")]
    Write { path: PathBuf, source: sqlx::Error },
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
    pub users: i64,
    pub servers: i64,
}

/// Copies the database at `url` into the new file `target`, then opens the copy and checks it.
pub async fn backup(url: &str, target: &Path) -> Result<BackupReport, BackupError> {
    if Backend::of_url(url).map_err(DbError::from)? == Backend::Postgres {
        return Err(BackupError::UsePgDump { url: redact(url), file: target.display().to_string() });
    }
    if target.exists() {
        return Err(BackupError::Exists(target.to_owned()));
    }
    let source = super::connect_existing(url).await?;
    let path = target.to_string_lossy().into_owned();
    let written = sqlx::query("VACUUM INTO $1").bind(&path).execute(&source).await;
    source.close().await;
    written.map_err(|source| BackupError::Write { path: target.to_owned(), source })?;

    // The copy opens as a database of its own and holds what the hub needs.
    let copy = super::connect_existing(&format!("sqlite://{path}")).await?;
    let checked: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&copy)
        .await
        .map_err(DbError::from)?
        .try_get(0)
        .map_err(DbError::from)?;
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM servers) AS servers",
    )
    .fetch_one(&copy)
    .await
    .map_err(DbError::from)?;
    copy.close().await;
    if checked != "ok" {
        return Err(BackupError::Damaged { path: target.to_owned(), problem: checked });
    }
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport {
        bytes,
        users: counts.try_get("users").map_err(DbError::from)?,
        servers: counts.try_get("servers").map_err(DbError::from)?,
    })
}
