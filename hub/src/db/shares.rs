//! `shares` and `share_codes`.

use sqlx::Row;

use super::{Db, DbConn};

/// One share, with names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    pub id: i64,
    pub server_id: i64,
    pub owner: String,
    pub server: String,
    /// Exactly one of these.
    pub user: Option<String>,
    pub group: Option<String>,
    pub scopes: String,
    pub created_at: i64,
}

const SELECT: &str = "SELECT sh.id, sh.server_id, o.name AS owner, s.name AS server, u.name AS user_name, \
     g.name AS group_name, sh.scopes, sh.created_at FROM shares sh JOIN servers s ON s.id = sh.server_id \
     JOIN users o ON o.id = s.user_id LEFT JOIN users u ON u.id = sh.user_id LEFT JOIN groups g ON g.id = sh.group_id ";

fn parse(r: &sqlx::any::AnyRow) -> Result<ShareRow, sqlx::Error> {
    Ok(ShareRow {
        id: r.try_get("id")?,
        server_id: r.try_get("server_id")?,
        owner: r.try_get("owner")?,
        server: r.try_get("server")?,
        user: r.try_get("user_name")?,
        group: r.try_get("group_name")?,
        scopes: r.try_get("scopes")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Whom a share is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    User(i64),
    Group(i64),
}

/// Creates the share, or leaves the existing one (same server and recipient) as it is: one
/// insert that skips a duplicate (the unique indexes), the write first. True when new.
pub async fn upsert(
    conn: &mut DbConn,
    server_id: i64,
    to: Recipient,
    scopes: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (user, group) = match to {
        Recipient::User(id) => (Some(id), None),
        Recipient::Group(id) => (None, Some(id)),
    };
    let done = sqlx::query(
        "INSERT INTO shares (server_id, user_id, group_id, scopes, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(server_id)
    .bind(user)
    .bind(group)
    .bind(scopes)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes one recipient's share of a server (`None`: every share of it). Returns the
/// recipients whose share ended.
pub async fn delete(
    conn: &mut DbConn,
    server_id: i64,
    to: Option<Recipient>,
) -> Result<Vec<Recipient>, sqlx::Error> {
    let (user, group) = match to {
        None => (None, None),
        Some(Recipient::User(id)) => (Some(id), None),
        Some(Recipient::Group(id)) => (None, Some(id)),
    };
    let rows: Vec<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "DELETE FROM shares WHERE server_id = $1 AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR group_id = $3) \
         RETURNING user_id, group_id",
    )
    .bind(server_id)
    .bind(user)
    .bind(group)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row {
            (Some(id), _) => Some(Recipient::User(id)),
            (None, Some(id)) => Some(Recipient::Group(id)),
            (None, None) => None,
        })
        .collect())
}

/// Shares of one owner's servers (one server's when `server_id` is given).
pub async fn of_owner<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    owner_id: i64,
    server_id: Option<i64>,
) -> Result<Vec<ShareRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT}WHERE s.user_id = $1 AND ($2 IS NULL OR sh.server_id = $2) ORDER BY s.name, sh.id"
    )))
    .bind(owner_id)
    .bind(server_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(parse).collect()
}

/// What is shared with a user, directly or through their groups.
pub async fn with_user<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
) -> Result<Vec<ShareRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT}WHERE sh.user_id = $1 OR sh.group_id IN (SELECT group_id FROM group_members WHERE user_id = $1) \
         ORDER BY o.name, s.name, sh.id"
    )))
    .bind(user_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(parse).collect()
}

pub async fn insert_code(
    conn: &mut DbConn,
    server_id: i64,
    code_hash: &str,
    scopes: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO share_codes (server_id, code_hash, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(server_id)
    .bind(code_hash)
    .bind(scopes)
    .bind(now)
    .bind(expires_at)
    .fetch_one(&mut *conn)
    .await
}

/// A live code, counted as exchanged (one write first): its id, server and scopes.
pub async fn exchange_code(
    conn: &mut DbConn,
    code_hash: &str,
    now: i64,
) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE share_codes SET exchange_count = exchange_count + 1, last_exchange_at = $2 \
         WHERE code_hash = $1 AND expires_at > $2 RETURNING id, server_id, scopes",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("server_id")?, r.try_get("scopes")?))).transpose()
}

/// A live code: its id, server and scopes.
pub async fn live_code(
    conn: &mut DbConn,
    code_hash: &str,
    now: i64,
) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, server_id, scopes FROM share_codes WHERE code_hash = $1 AND expires_at > $2")
            .bind(code_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("server_id")?, r.try_get("scopes")?))).transpose()
}
