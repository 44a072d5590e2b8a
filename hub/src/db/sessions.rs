//! `sessions`: browser sign-ins, looked up by the SHA-256 of the cookie value.

use sqlx::FromRow;

use super::{now_ms, Db, DbConn, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub expires_at: i64,
}

pub async fn insert<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
    token_hash: &str,
    expires_at: i64,
    id_token: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (user_id, token_hash, created_at, expires_at, last_seen, id_token) \
         VALUES ($1, $2, $3, $4, $3, $5)",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .bind(id_token)
    .execute(ex)
    .await?;
    Ok(())
}

/// The live session with this hash, if any (expired ones are not returned).
pub async fn live_by_hash(pool: &Pool, token_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as::<_, SessionRow>(
        "SELECT id, user_id, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

/// Ends the session with this hash and the OAuth tokens and codes it authorized (the write
/// first, for SQLite's lock). Returns the session's id when one existed.
pub async fn delete_by_hash(conn: &mut DbConn, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar("DELETE FROM sessions WHERE token_hash = $1 RETURNING id")
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(id) = id {
        sqlx::query("DELETE FROM api_tokens WHERE session_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM oauth_codes WHERE session_id = $1").bind(id).execute(&mut *conn).await?;
    }
    Ok(id)
}

/// The live session with this cookie hash, by id.
pub async fn id_by_hash(pool: &Pool, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(token_hash)
        .bind(super::now_ms())
        .fetch_optional(pool)
        .await
}

pub async fn delete_for_user<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(ex).await?;
    Ok(done.rows_affected())
}

pub async fn delete_expired(pool: &Pool) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now_ms()).execute(pool).await?;
    Ok(done.rows_affected())
}

/// The provider's ID token a session was signed in with (OpenID Connect), for logout.
pub async fn id_token(pool: &Pool, token_hash: &str) -> Result<Option<String>, sqlx::Error> {
    let found: Option<Option<String>> =
        sqlx::query_scalar("SELECT id_token FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
    Ok(found.flatten())
}
