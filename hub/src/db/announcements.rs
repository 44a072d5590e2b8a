//! `announcements`: admins' notices, with where they show and until when.

use sqlx::Row;

use super::{DbConn, Pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementRow {
    pub id: i64,
    pub body: String,
    pub placement: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub expires_at: Option<i64>,
}

macro_rules! select {
    () => {
        "SELECT id, body, placement, created_at, created_by, expires_at FROM announcements "
    };
}

fn parse(r: &sqlx::any::AnyRow) -> Result<AnnouncementRow, sqlx::Error> {
    Ok(AnnouncementRow {
        id: r.try_get("id")?,
        body: r.try_get("body")?,
        placement: r.try_get("placement")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: r.try_get("expires_at")?,
    })
}

pub struct NewRow<'a> {
    pub body: &'a str,
    pub placement: &'a str,
    pub created_by: Option<&'a str>,
    pub expires_at: Option<i64>,
}

pub async fn insert(conn: &mut DbConn, new: NewRow<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO announcements (body, placement, created_at, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(new.body)
    .bind(new.placement)
    .bind(now)
    .bind(new.created_by)
    .bind(new.expires_at)
    .fetch_one(&mut *conn)
    .await
}

pub async fn delete(conn: &mut DbConn, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM announcements WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Every announcement, newest first (the admin's list, expired ones included).
pub async fn all(pool: &Pool) -> Result<Vec<AnnouncementRow>, sqlx::Error> {
    let rows = sqlx::query(concat!(select!(), "ORDER BY created_at DESC, id DESC")).fetch_all(pool).await?;
    rows.iter().map(parse).collect()
}

/// Those not expired at `now` whose placement is one of `placements`, newest first.
pub async fn current(
    pool: &Pool,
    placements: &[&str],
    now: i64,
) -> Result<Vec<AnnouncementRow>, sqlx::Error> {
    let sql = format!(
        "{}WHERE (expires_at IS NULL OR expires_at > $1) AND placement IN ({}) ORDER BY created_at DESC, id DESC",
        select!(),
        super::placeholders(2, placements.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for p in placements {
        query = query.bind(*p);
    }
    query.fetch_all(pool).await?.iter().map(parse).collect()
}
