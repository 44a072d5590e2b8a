//! `samples`: the Overview charts' figures over time (see `hub::overview`).

use sqlx::Row;

use super::{DbConn, Pool};

/// One figure of one series at one time, in thousandths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRow {
    pub at: i64,
    pub metric: String,
    pub series: String,
    pub value_milli: i64,
}

fn parse(r: &sqlx::any::AnyRow) -> Result<SampleRow, sqlx::Error> {
    Ok(SampleRow {
        at: r.try_get("at")?,
        metric: r.try_get("metric")?,
        series: r.try_get("series")?,
        value_milli: r.try_get("value_milli")?,
    })
}

pub async fn insert(
    conn: &mut DbConn,
    at: i64,
    metric: &str,
    series: &str,
    value_milli: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO samples (at, metric, series, value_milli) VALUES ($1, $2, $3, $4)")
        .bind(at)
        .bind(metric)
        .bind(series)
        .bind(value_milli)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removes what is older than `before`; returns how many rows went.
pub async fn prune(conn: &mut DbConn, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM samples WHERE at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Every sample since `since`, by metric, series and time.
pub async fn since(pool: &Pool, since: i64) -> Result<Vec<SampleRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, metric, series, value_milli FROM samples WHERE at >= $1 ORDER BY metric, series, at",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    rows.iter().map(parse).collect()
}

/// The samples of `metric` whose series is one of `series`, since `since` (a person's own GPUs).
pub async fn of_series(
    pool: &Pool,
    metric: &str,
    series: &[String],
    since: i64,
) -> Result<Vec<SampleRow>, sqlx::Error> {
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT at, metric, series, value_milli FROM samples WHERE metric = $1 AND at >= $2 AND series IN ({}) \
         ORDER BY series, at",
        super::placeholders(3, series.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(metric).bind(since);
    for s in series {
        query = query.bind(s.as_str());
    }
    query.fetch_all(pool).await?.iter().map(parse).collect()
}
