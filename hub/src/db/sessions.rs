//! `sessions`: browser sign-ins, looked up by the SHA-256 of the cookie value.

use sqlx::FromRow;

use super::{now_ms, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub expires_at: i64,
}

pub async fn insert(
    pool: &Pool,
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
    .execute(pool)
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

pub async fn delete_by_hash(pool: &Pool, token_hash: &str) -> Result<bool, sqlx::Error> {
    super::bump_auth_generation();
    // The OAuth tokens this browser session authorized end with it.
    sqlx::query("DELETE FROM api_tokens WHERE session_id IN (SELECT id FROM sessions WHERE token_hash = $1)")
        .bind(token_hash)
        .execute(pool)
        .await?;
    sqlx::query(
        "DELETE FROM oauth_codes WHERE session_id IN (SELECT id FROM sessions WHERE token_hash = $1)",
    )
    .bind(token_hash)
    .execute(pool)
    .await?;
    let done =
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(pool).await?;
    // Again after the write: a request that read the old row in between must not keep it.
    super::bump_auth_generation();
    Ok(done.rows_affected() > 0)
}

/// The live session with this cookie hash, by id.
pub async fn id_by_hash(pool: &Pool, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(token_hash)
        .bind(super::now_ms())
        .fetch_optional(pool)
        .await
}

pub async fn delete_for_user(pool: &Pool, user_id: i64) -> Result<u64, sqlx::Error> {
    super::bump_auth_generation();
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(pool).await?;
    // Again after the write: a request that read the old row in between must not keep it.
    super::bump_auth_generation();
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
