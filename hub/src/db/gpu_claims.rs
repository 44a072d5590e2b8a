//! `gpu_claims`: the GPU ledger. Its primary key (the unit's UUID) makes holding a unit twice
//! impossible, whatever the number of hub processes.

use std::collections::HashSet;

use sqlx::Row;

use super::{DbConn, Pool};
use crate::stored::ServerState;

/// Every unit held now.
pub async fn held(conn: &mut DbConn) -> Result<HashSet<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT uuid FROM gpu_claims").fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.try_get::<String, _>("uuid")).collect()
}

pub async fn claim(conn: &mut DbConn, server_id: i64, uuids: &[String], now: i64) -> Result<(), sqlx::Error> {
    for uuid in uuids {
        sqlx::query("INSERT INTO gpu_claims (uuid, server_id, claimed_at) VALUES ($1, $2, $3)")
            .bind(uuid)
            .bind(server_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Releases everything the server holds; returns how many units.
pub async fn release(conn: &mut DbConn, server_id: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM gpu_claims WHERE server_id = $1")
        .bind(server_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// The units one server holds, in claim order.
pub async fn of_server(pool: &Pool, server_id: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT uuid FROM gpu_claims WHERE server_id = $1 ORDER BY uuid")
        .bind(server_id)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| r.try_get::<String, _>("uuid")).collect()
}

/// A held unit and its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub uuid: String,
    pub server_id: i64,
    pub user: String,
    pub server: String,
    pub claimed_at: i64,
}

pub async fn holdings(pool: &Pool) -> Result<Vec<Holding>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.uuid, c.server_id, c.claimed_at, u.name AS user_name, s.name AS server_name \
         FROM gpu_claims c JOIN servers s ON s.id = c.server_id JOIN users u ON u.id = s.user_id ORDER BY c.uuid",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Holding {
                uuid: r.try_get("uuid")?,
                server_id: r.try_get("server_id")?,
                user: r.try_get("user_name")?,
                server: r.try_get("server_name")?,
                claimed_at: r.try_get("claimed_at")?,
            })
        })
        .collect()
}

/// Claims of servers that are not active (left by a version or a path that did not release):
/// released, so the ledger holds exactly the active servers' units. Returns how many.
pub async fn release_inactive(conn: &mut DbConn) -> Result<u64, sqlx::Error> {
    let active = ServerState::active().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    // Only the fixed state words are spliced in; nothing from outside.
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM gpu_claims WHERE server_id NOT IN (SELECT id FROM servers WHERE status IN ({active}))"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
