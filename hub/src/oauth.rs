//! The hub as an OAuth2 provider for its servers, as JupyterHub's single-user servers expect
//! (authorization code grant, PKCE when the client sends it; see
//! `shared/reference/jupyterhub-singleuser-contract.md`). Each server has a client
//! (`jupyterhub-user-NAME[-SERVER]`) whose secret is the server's own API token, registered in
//! the transaction that moves the server to pending and deleted — with its codes and tokens — in
//! the one that ends in stopped. Codes are single-use and live five minutes; access tokens live
//! 14 days and are tied to the browser session that authorized them (deleted at logout).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::access::{self, Opening};
use crate::accounts::User;
use crate::db::{self, oauth, DbConn};
use crate::domain::{ServerName, UserName};
use crate::scopes;
use crate::secret::SecretToken;
use crate::Hub;

/// How long an authorization code may wait for its exchange.
pub const CODE_TTL_MS: i64 = 300_000;
/// How long an access token lives.
pub const TOKEN_TTL_MS: i64 = 14 * 86_400_000;

/// Python's `urllib.parse.quote` with its default `safe='/'`: what JupyterHub puts in client ids,
/// and a safe query value (the `state` the client sent).
fn quote(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A server's OAuth identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerClient {
    /// `jupyterhub-user-alice`, `jupyterhub-user-alice-lab`.
    pub client_id: String,
    /// `/user/alice/oauth_callback`, `/user/alice/lab/oauth_callback`.
    pub redirect_uri: String,
    /// `access:servers!server=alice/`, `access:servers!server=alice/lab`.
    pub access_scope: String,
}

impl ServerClient {
    pub fn of(user: &UserName, server: &ServerName) -> Self {
        let mut client_id = format!("jupyterhub-user-{}", quote(user.as_str()));
        if !server.is_default() {
            client_id.push('-');
            client_id.push_str(&quote(server.as_str()));
        }
        ServerClient {
            client_id,
            redirect_uri: format!("{}oauth_callback", crate::servers::base_url(user, server)),
            access_scope: format!("access:servers!server={user}/{server}"),
        }
    }

    /// The scopes a server's single-user process accepts (`JUPYTERHUB_OAUTH_ACCESS_SCOPES`).
    pub fn access_scopes(&self, user: &UserName) -> Vec<String> {
        vec![self.access_scope.clone(), format!("access:servers!user={user}")]
    }

    /// The `server` role: what the server's own token may do.
    pub fn server_token_scopes(&self, user: &UserName) -> Vec<String> {
        vec![format!("users:activity!user={user}"), self.access_scope.clone()]
    }
}

/// Registers a server's client and its own token (inside the start's transaction).
pub async fn register_server(
    conn: &mut DbConn,
    server_id: i64,
    user_id: i64,
    user: &UserName,
    server: &ServerName,
    token: &SecretToken,
    now: i64,
) -> Result<(), sqlx::Error> {
    let client = ServerClient::of(user, server);
    let scopes = serde_json::to_string(std::slice::from_ref(&client.access_scope)).unwrap_or_default();
    let token_scopes = serde_json::to_string(&client.server_token_scopes(user)).unwrap_or_default();
    let prefix: String = token.expose().chars().take(4).collect();
    let hash = token.hash();
    let new = oauth::NewClient {
        id: &client.client_id,
        server_id,
        secret_hash: &hash,
        redirect_uri: &client.redirect_uri,
        scopes: &scopes,
    };
    oauth::register_server(conn, new, user_id, &prefix, &token_scopes, now).await
}

/// Deletes a server's client, codes and tokens (inside the transaction that stops it).
pub async fn forget_server(conn: &mut DbConn, server_id: i64) -> Result<u64, sqlx::Error> {
    oauth::forget_server(conn, server_id).await
}

/// What `/hub/api/oauth2/authorize` was asked.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("unknown OAuth client {0:?}")]
    UnknownClient(String),
    #[error("redirect_uri {0:?} is not the one registered for this client")]
    RedirectMismatch(String),
    /// Reported to the client by redirect (`error=unsupported_response_type`).
    #[error("response_type must be \"code\"")]
    UnsupportedResponseType,
    #[error("code_challenge_method must be S256")]
    UnsupportedChallengeMethod,
    #[error("you are not allowed to access this server")]
    NoAccess,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Access(#[from] access::AccessError),
}

impl crate::error::Classify for AuthorizeError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            AuthorizeError::UnknownClient(_)
            | AuthorizeError::RedirectMismatch(_)
            | AuthorizeError::UnsupportedResponseType
            | AuthorizeError::UnsupportedChallengeMethod => C::Invalid,
            AuthorizeError::NoAccess => C::Forbidden,
            AuthorizeError::Db(_) | AuthorizeError::Access(_) => C::Internal,
        }
    }
}

/// What an authorization request comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Send the browser here: the client's redirect URI with a fresh code, or with an error.
    Redirect(String),
    /// The person must say yes first (the consent page).
    Consent(ConsentFor),
}

/// What a consent page asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentFor {
    /// A server shared with the person.
    Server { owner: String, server: String },
    /// A service (unless it is configured with `oauth_no_confirm`).
    Service { name: String },
}

/// Where the browser goes next, for `user` signed in with browser session `session_id`: its own
/// server (or, with `servers.admin_access`, anyone's for an admin) at once; a server shared with
/// them, or a service, once they `consented`.
pub async fn authorize(
    hub: &Hub,
    user: &User,
    session_id: Option<i64>,
    req: &AuthorizeRequest,
    consented: bool,
) -> Result<Authorization, AuthorizeError> {
    let now = hub.clock().now_ms();
    // Each step takes a pooled connection for its statement and gives it back: nothing here
    // holds one while asking for another.
    let client = {
        let mut conn = hub.db().acquire().await?;
        oauth::client(&mut conn, &req.client_id).await?
    }
    .ok_or_else(|| AuthorizeError::UnknownClient(req.client_id.clone()))?;
    // Never redirect anywhere but the registered URI, whatever else is wrong.
    if req.redirect_uri != client.redirect_uri {
        return Err(AuthorizeError::RedirectMismatch(req.redirect_uri.clone()));
    }
    let state = req.state.as_deref().map(|s| format!("&state={}", quote(s))).unwrap_or_default();
    if req.response_type != "code" {
        return Ok(Authorization::Redirect(format!(
            "{}?error=unsupported_response_type{state}",
            client.redirect_uri
        )));
    }
    if req.code_challenge.is_some() && req.code_challenge_method.as_deref().unwrap_or("plain") != "S256" {
        return Err(AuthorizeError::UnsupportedChallengeMethod);
    }
    match client.server_id {
        Some(server_id) => {
            let Some(server) = db::servers::by_id(hub.db(), server_id).await.map_err(AuthorizeError::Db)?
            else {
                return Err(AuthorizeError::NoAccess);
            };
            let target = access::ServerRef {
                owner_id: server.user_id,
                owner: &server.user_name,
                server: server.name.as_str(),
            };
            match access::open_server(hub, access::Who::Person(user), target).await? {
                Opening::Owner | Opening::Admin => {}
                Opening::Granted if consented => {}
                Opening::Granted => {
                    return Ok(Authorization::Consent(ConsentFor::Server {
                        owner: server.user_name.to_string(),
                        server: server.name.to_string(),
                    }))
                }
                Opening::Denied => return Err(AuthorizeError::NoAccess),
            }
        }
        // A service's client: `service-NAME`, for people with `access:services` on it.
        None => {
            let service = client
                .id
                .strip_prefix("service-")
                .and_then(|name| hub.services().get(name))
                .ok_or(AuthorizeError::NoAccess)?;
            if !access::may_open_service(hub, user, service.name()).await? {
                return Err(AuthorizeError::NoAccess);
            }
            if !consented && !service.config.oauth_no_confirm {
                return Ok(Authorization::Consent(ConsentFor::Service { name: service.name().to_owned() }));
            }
        }
    }
    let mut scopes = scopes::decode_stored(&client.scopes);
    scopes.push(format!("read:users:name!user={}", user.name));
    scopes.push(format!("read:users:groups!user={}", user.name));
    let code = SecretToken::generate();
    let hash = code.hash();
    let scopes = scopes::encode_stored(&scopes);
    let new = oauth::NewCode {
        code_hash: &hash,
        client_id: &client.id,
        user_id: user.id,
        session_id,
        scopes: &scopes,
        redirect_uri: &client.redirect_uri,
        code_challenge: req.code_challenge.as_deref(),
        expires_at: now + CODE_TTL_MS,
    };
    {
        let mut conn = hub.db().acquire().await?;
        oauth::insert_code(&mut conn, new, now).await?;
    }
    Ok(Authorization::Redirect(format!("{}?code={}{state}", client.redirect_uri, code.expose())))
}

/// What `/hub/api/oauth2/token` was sent.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
    pub grant_type: String,
    pub code: String,
    pub redirect_uri: String,
    pub code_verifier: Option<String>,
}

/// RFC 6749's token errors; the API answers each as `{"error": …, "error_description": …}`.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_client: unknown client or wrong secret")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unsupported_grant_type: only authorization_code")]
    UnsupportedGrantType,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl TokenError {
    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidClient => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::Db(_) => "server_error",
        }
    }
}

/// An issued access token.
#[derive(Debug)]
pub struct Issued {
    pub access_token: SecretToken,
    pub expires_in_seconds: i64,
    pub scopes: Vec<String>,
}

/// Exchanges a code for an access token: the client's secret must match, the code must be
/// live, the client's, for the same redirect URI and (when a challenge was stored) the verifier's.
/// The code is gone after the first attempt, right or wrong.
pub async fn exchange(hub: &Hub, req: &TokenRequest) -> Result<Issued, TokenError> {
    let now = hub.clock().now_ms();
    if req.grant_type != "authorization_code" {
        return Err(TokenError::UnsupportedGrantType);
    }
    let mut conn = hub.db().acquire().await?;
    let client = oauth::client(&mut conn, &req.client_id).await?.ok_or(TokenError::InvalidClient)?;
    let presented = SecretToken::from_presented(&req.client_secret).hash();
    if !constant_time_eq(presented.as_bytes(), client.secret_hash.as_bytes()) {
        return Err(TokenError::InvalidClient);
    }
    // Taken (deleted) in one statement: gone even when the exchange fails below.
    let code = oauth::take_code(&mut conn, &SecretToken::from_presented(&req.code).hash()).await?;
    let code = code.ok_or(TokenError::InvalidGrant("unknown or used code"))?;
    if code.client_id != client.id {
        return Err(TokenError::InvalidGrant("the code was issued to another client"));
    }
    if code.expires_at <= now {
        return Err(TokenError::InvalidGrant("the code expired"));
    }
    if code.redirect_uri != req.redirect_uri {
        return Err(TokenError::InvalidGrant("redirect_uri differs from the authorization request's"));
    }
    if let Some(challenge) = &code.code_challenge {
        let verifier =
            req.code_verifier.as_deref().ok_or(TokenError::InvalidGrant("code_verifier is missing"))?;
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
            return Err(TokenError::InvalidGrant("code_verifier does not match the challenge"));
        }
    }
    let token = SecretToken::generate();
    let hash = token.hash();
    let prefix: String = token.expose().chars().take(4).collect();
    let new = oauth::NewAccessToken {
        user_id: code.user_id,
        token_hash: &hash,
        prefix: &prefix,
        client_id: &client.id,
        session_id: code.session_id,
        scopes: &code.scopes,
        expires_at: now + TOKEN_TTL_MS,
    };
    oauth::insert_access_token(&mut conn, new, now).await?;
    Ok(Issued {
        access_token: token,
        expires_in_seconds: TOKEN_TTL_MS / 1000,
        scopes: scopes::decode_stored(&code.scopes),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The browser session behind a presented cookie value (OAuth tokens are tied to it).
pub async fn session_of(hub: &Hub, cookie_value: &str) -> Result<Option<i64>, access::AccessError> {
    Ok(access::session(hub, cookie_value).await?.map(|s| s.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_redirects_and_scopes_follow_jupyterhub() {
        let alice = UserName::parse("alice").unwrap();
        let c = ServerClient::of(&alice, &ServerName::default_server());
        assert_eq!(c.client_id, "jupyterhub-user-alice");
        assert_eq!(c.redirect_uri, "/user/alice/oauth_callback");
        assert_eq!(c.access_scope, "access:servers!server=alice/");
        let lab = ServerClient::of(&alice, &ServerName::parse("gpu").unwrap());
        assert_eq!(lab.client_id, "jupyterhub-user-alice-gpu");
        assert_eq!(lab.redirect_uri, "/user/alice/gpu/oauth_callback");
        assert_eq!(
            lab.server_token_scopes(&alice),
            ["users:activity!user=alice", "access:servers!server=alice/gpu"]
        );
        assert_eq!(quote("a b@c"), "a%20b%40c");
    }
}
