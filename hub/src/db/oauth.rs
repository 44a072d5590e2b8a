//! `oauth_clients`, `oauth_codes` and the hub-issued rows of `api_tokens` (a server's own token,
//! OAuth access tokens): the hub as its servers' OAuth2 provider.

use sqlx::Row;

use super::DbConn;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub id: String,
    pub server_id: Option<i64>,
    pub secret_hash: String,
    pub redirect_uri: String,
    pub scopes: String,
}

pub struct NewClient<'a> {
    pub id: &'a str,
    pub server_id: i64,
    pub secret_hash: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
}

/// Registers (or replaces) a server's client, and the server's own API token.
pub async fn register_server(
    conn: &mut DbConn,
    client: NewClient<'_>,
    user_id: i64,
    token_prefix: &str,
    token_scopes: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    forget_server(conn, client.server_id).await?;
    sqlx::query("DELETE FROM oauth_clients WHERE id = $1").bind(client.id).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO oauth_clients (id, server_id, secret_hash, redirect_uri, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(client.id)
    .bind(client.server_id)
    .bind(client.secret_hash)
    .bind(client.redirect_uri)
    .bind(client.scopes)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
        .bind(client.secret_hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO api_tokens (user_id, token_hash, prefix, note, scopes, created_at, server_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user_id)
    .bind(client.secret_hash)
    .bind(token_prefix)
    .bind(format!("server {}", client.id))
    .bind(token_scopes)
    .bind(now)
    .bind(client.server_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a server's client, its codes, the tokens issued to it and the server's own token.
pub async fn forget_server(conn: &mut DbConn, server_id: i64) -> Result<u64, sqlx::Error> {
    let tokens = sqlx::query(
        "DELETE FROM api_tokens WHERE server_id = $1 \
         OR oauth_client IN (SELECT id FROM oauth_clients WHERE server_id = $1)",
    )
    .bind(server_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM oauth_codes WHERE client_id IN (SELECT id FROM oauth_clients WHERE server_id = $1)",
    )
    .bind(server_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM oauth_clients WHERE server_id = $1").bind(server_id).execute(&mut *conn).await?;
    Ok(tokens.rows_affected())
}

/// Writes a service's client (`service-NAME`, no server), keeping its codes and tokens when
/// nothing about it changed.
pub async fn upsert_service_client(
    conn: &mut DbConn,
    id: &str,
    secret_hash: &str,
    redirect_uri: &str,
    scopes: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_clients (id, server_id, secret_hash, redirect_uri, scopes, created_at) \
         VALUES ($1, NULL, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET secret_hash = $2, redirect_uri = $3, scopes = $4",
    )
    .bind(id)
    .bind(secret_hash)
    .bind(redirect_uri)
    .bind(scopes)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes the clients of services that are no longer configured (their codes and tokens go
/// with them).
pub async fn forget_other_service_clients(conn: &mut DbConn, kept: &[String]) -> Result<u64, sqlx::Error> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM oauth_clients WHERE server_id IS NULL AND id LIKE 'service-%'")
            .fetch_all(&mut *conn)
            .await?;
    let mut gone = 0;
    for id in ids.iter().filter(|id| !kept.contains(id)) {
        sqlx::query("DELETE FROM api_tokens WHERE oauth_client = $1").bind(id).execute(&mut *conn).await?;
        gone += sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(gone)
}

pub async fn client(conn: &mut DbConn, id: &str) -> Result<Option<ClientRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, server_id, secret_hash, redirect_uri, scopes FROM oauth_clients WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(ClientRow {
            id: r.try_get("id")?,
            server_id: r.try_get("server_id")?,
            secret_hash: r.try_get("secret_hash")?,
            redirect_uri: r.try_get("redirect_uri")?,
            scopes: r.try_get("scopes")?,
        })
    })
    .transpose()
}

pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub user_id: i64,
    pub session_id: Option<i64>,
    pub scopes: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub expires_at: i64,
}

pub async fn insert_code(conn: &mut DbConn, c: NewCode<'_>, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, client_id, user_id, session_id, scopes, redirect_uri, code_challenge, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(c.code_hash)
    .bind(c.client_id)
    .bind(c.user_id)
    .bind(c.session_id)
    .bind(c.scopes)
    .bind(c.redirect_uri)
    .bind(c.code_challenge)
    .bind(now)
    .bind(c.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub client_id: String,
    pub user_id: i64,
    pub session_id: Option<i64>,
    pub scopes: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

/// Takes a code: one statement that deletes it and returns it, so it is used once whatever
/// happens next, and the write comes first (SQLite takes its write lock at once, instead of
/// failing to upgrade a read lock while another connection writes).
pub async fn take_code(conn: &mut DbConn, code_hash: &str) -> Result<Option<CodeRow>, sqlx::Error> {
    let row = sqlx::query(
        "DELETE FROM oauth_codes WHERE code_hash = $1 \
         RETURNING client_id, user_id, session_id, scopes, redirect_uri, code_challenge, expires_at",
    )
    .bind(code_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(CodeRow {
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        session_id: r.try_get("session_id")?,
        scopes: r.try_get("scopes")?,
        redirect_uri: r.try_get("redirect_uri")?,
        code_challenge: r.try_get("code_challenge")?,
        expires_at: r.try_get("expires_at")?,
    }))
}

pub struct NewAccessToken<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub client_id: &'a str,
    pub session_id: Option<i64>,
    pub scopes: &'a str,
    pub expires_at: i64,
}

pub async fn insert_access_token(
    conn: &mut DbConn,
    t: NewAccessToken<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (user_id, token_hash, prefix, note, scopes, created_at, expires_at, oauth_client, session_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(t.user_id)
    .bind(t.token_hash)
    .bind(t.prefix)
    .bind(format!("OAuth {}", t.client_id))
    .bind(t.scopes)
    .bind(now)
    .bind(t.expires_at)
    .bind(t.client_id)
    .bind(t.session_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
