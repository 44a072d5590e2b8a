//! `api_tokens`: tokens for the REST API, looked up by the SHA-256 of the presented value.

use sqlx::FromRow;

use super::{now_ms, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub prefix: String,
    pub note: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_activity: Option<i64>,
}

macro_rules! token_columns {
    () => {
        "id, user_id, prefix, note, scopes, created_at, expires_at, last_activity"
    };
}

pub struct NewTokenRow<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub note: &'a str,
    pub scopes: &'a str,
    pub expires_at: Option<i64>,
}

pub async fn insert(pool: &Pool, t: NewTokenRow<'_>) -> Result<TokenRow, sqlx::Error> {
    sqlx::query_as::<_, TokenRow>(concat!(
        "INSERT INTO api_tokens (user_id, token_hash, prefix, note, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        token_columns!()
    ))
    .bind(t.user_id)
    .bind(t.token_hash)
    .bind(t.prefix)
    .bind(t.note)
    .bind(t.scopes)
    .bind(now_ms())
    .bind(t.expires_at)
    .fetch_one(pool)
    .await
}

/// The unexpired token with this hash.
pub async fn live_by_hash(pool: &Pool, hash: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as::<_, TokenRow>(concat!(
        "SELECT ",
        token_columns!(),
        " FROM api_tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)"
    ))
    .bind(hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

pub async fn for_user(pool: &Pool, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as::<_, TokenRow>(concat!(
        "SELECT ",
        token_columns!(),
        " FROM api_tokens WHERE user_id = $1 AND server_id IS NULL AND oauth_client IS NULL ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
}

pub async fn get(pool: &Pool, user_id: i64, id: i64) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as::<_, TokenRow>(concat!(
        "SELECT ",
        token_columns!(),
        " FROM api_tokens WHERE user_id = $1 AND id = $2 AND server_id IS NULL AND oauth_client IS NULL"
    ))
    .bind(user_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn delete(pool: &Pool, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    super::bump_auth_generation();
    let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(pool)
        .await?;
    // Again after the write: a request that read the old row in between must not keep it.
    super::bump_auth_generation();
    Ok(done.rows_affected() == 1)
}

pub async fn touch(pool: &Pool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET last_activity = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
