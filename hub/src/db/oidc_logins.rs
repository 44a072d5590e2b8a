//! `oidc_logins`: OpenID Connect sign-in attempts between the redirect to the provider and the
//! callback.

use sqlx::FromRow;

use super::{now_ms, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct PendingLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_path: String,
    pub created_at: i64,
}

pub async fn insert(
    pool: &Pool,
    state_hash: &str,
    nonce: &str,
    pkce_verifier: &str,
    next_path: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, next_path, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_hash)
    .bind(nonce)
    .bind(pkce_verifier)
    .bind(next_path)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes and returns the attempt; `None` when unknown or already taken (one use only).
pub async fn take(pool: &Pool, state_hash: &str) -> Result<Option<PendingLogin>, sqlx::Error> {
    sqlx::query_as::<_, PendingLogin>(
        "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING nonce, pkce_verifier, next_path, created_at",
    )
    .bind(state_hash)
    .fetch_optional(pool)
    .await
}

pub async fn prune(pool: &Pool, before_ms: i64) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM oidc_logins WHERE created_at < $1").bind(before_ms).execute(pool).await?;
    Ok(done.rows_affected())
}
