//! `events`: the audit log.

use sqlx::FromRow;

use super::{now_ms, Db, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

/// Appends one entry. `actor` is `None` for the hub itself or the command line.
pub async fn record<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    actor: Option<&str>,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO events (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn recent(pool: &Pool, limit: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as::<_, EventRow>(
        "SELECT id, at, actor, action, target, detail FROM events ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Entries whose actor, target or action contains the pattern `$1`, ignoring case (all when `$1` is NULL).
macro_rules! events_matching {
    () => {
        "WHERE $1 IS NULL OR LOWER(actor) LIKE LOWER($1) ESCAPE '\\' OR LOWER(target) LIKE LOWER($1) ESCAPE '\\' \
         OR LOWER(action) LIKE LOWER($1) ESCAPE '\\'"
    };
}

/// One page of the log, newest first, optionally only entries whose actor or target contains
/// `filter`; with the total that match.
pub async fn page(
    pool: &Pool,
    filter: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<EventRow>, i64), sqlx::Error> {
    let pattern = filter.map(super::like_pattern);
    let rows = sqlx::query_as::<_, EventRow>(concat!(
        "SELECT id, at, actor, action, target, detail FROM events ",
        events_matching!(),
        " ORDER BY id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(pattern.clone())
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar::<_, i64>(concat!("SELECT COUNT(*) FROM events ", events_matching!()))
        .bind(pattern)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}
