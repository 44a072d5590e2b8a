//! `api_tokens`: tokens for the REST API, looked up by the SHA-256 of the presented value.

use sqlx::FromRow;

use super::{now_ms, Db, DbConn, Pool};

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

pub async fn insert<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    t: NewTokenRow<'_>,
) -> Result<TokenRow, sqlx::Error> {
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
    .fetch_one(ex)
    .await
}

/// A live token with what the access policy needs besides its row: the browser session an OAuth
/// token was issued under, and the server it belongs to (its own token, or its OAuth client's).
#[derive(Debug, Clone, FromRow)]
pub struct AuthTokenRow {
    #[sqlx(flatten)]
    pub token: TokenRow,
    pub session_id: Option<i64>,
    pub server_id: Option<i64>,
}

pub async fn live_for_auth(pool: &Pool, hash: &str) -> Result<Option<AuthTokenRow>, sqlx::Error> {
    sqlx::query_as::<_, AuthTokenRow>(
        "SELECT t.id, t.user_id, t.prefix, t.note, t.scopes, t.created_at, t.expires_at, t.last_activity, \
         t.session_id, COALESCE(t.server_id, c.server_id) AS server_id \
         FROM api_tokens t LEFT JOIN oauth_clients c ON c.id = t.oauth_client \
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

/// Writes a token's "last used" (batched by the access policy); never moves it back.
pub async fn record_use(conn: &mut DbConn, id: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_tokens SET last_activity = $1 WHERE id = $2 AND (last_activity IS NULL OR last_activity < $1)",
    )
    .bind(at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
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

pub async fn delete<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    user_id: i64,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}
