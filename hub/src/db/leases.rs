//! `leases`: work that only one hub process may do at a time (reconciling servers against the
//! spawners). A lease is held until it expires; its holder renews it by taking it again.

use super::DbConn;

/// Takes or renews the lease `name` for `holder` until `now + ttl_ms`. False when another holder
/// has it and it has not expired.
pub async fn acquire(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, 0) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(holder)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3 AND (holder = $1 OR expires_at <= $4)",
    )
    .bind(holder)
    .bind(now.saturating_add(ttl_ms))
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease up (at shutdown), so another process need not wait for it to expire.
pub async fn release(conn: &mut DbConn, name: &str, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether `name` is held by someone now.
pub async fn is_held(conn: &mut DbConn, name: &str, now: i64) -> Result<bool, sqlx::Error> {
    let held: Option<i64> = sqlx::query_scalar("SELECT expires_at FROM leases WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(held.is_some_and(|expires| expires > now))
}

/// Who holds `name` (expired or not).
pub async fn holder(conn: &mut DbConn, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
}

/// Takes `name` from `from`, a holder known to be dead. False when someone else took it meanwhile.
pub async fn take_from(
    conn: &mut DbConn,
    name: &str,
    from: &str,
    holder: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3 AND holder = $4")
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(name)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
