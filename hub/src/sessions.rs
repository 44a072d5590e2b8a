//! Browser sessions: a random id in the cookie, its SHA-256 in the database. Who a cookie
//! belongs to is [`crate::access::session`]'s answer (it keeps resolved sessions in memory).

use tracing::info;

use crate::access::Changed;
use crate::accounts::User;
use crate::change::{Audit, Change};
use crate::db::{self, sessions};
use crate::secret::SecretToken;
use crate::Hub;

/// A session that was just created: the cookie value (shown once) and when it ends.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretToken,
    pub expires_at_ms: i64,
}

/// Starts a session; `id_token` is the provider's ID token when the user signed in with OpenID
/// Connect (kept for RP-initiated logout).
pub async fn create(
    hub: &Hub,
    user: &User,
    max_age_seconds: u64,
    id_token: Option<&str>,
) -> Result<NewSession, sqlx::Error> {
    let token = SecretToken::generate();
    let max_age_ms = i64::try_from(max_age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let expires_at_ms = db::now_ms().saturating_add(max_age_ms);
    let mut change = Change::begin(hub).await?;
    sessions::insert(change.conn(), user.id, &token.hash(), expires_at_ms, id_token).await?;
    let via = if id_token.is_some() { "oidc" } else { "password" };
    let name = user.name.as_str();
    change.commit(Audit::new(Some(name), "session.login", name, serde_json::json!({ "via": via }))).await?;
    info!(user.name = %user.name, "signed in");
    Ok(NewSession { token, expires_at_ms })
}

/// Signs out: ends the session with this cookie value (and the OAuth tokens it authorized),
/// with its audit row for a known user, in one transaction; open connections it opened end.
/// Returns whether a session existed.
pub async fn sign_out(hub: &Hub, presented: &str, user: Option<&User>) -> Result<bool, sqlx::Error> {
    let began = std::time::Instant::now();
    let ended = end_session(hub, presented, user).await;
    hub.metrics().logout(began.elapsed());
    ended
}

async fn end_session(hub: &Hub, presented: &str, user: Option<&User>) -> Result<bool, sqlx::Error> {
    let mut change = Change::begin(hub).await?;
    let ended =
        sessions::delete_by_hash(change.conn(), &SecretToken::from_presented(presented).hash()).await?;
    if let Some(id) = ended {
        change.forgets(Changed::Session(id));
    }
    match user {
        Some(user) => {
            let name = user.name.as_str();
            change.commit(Audit::new(Some(name), "session.logout", name, serde_json::json!({}))).await?;
        }
        None => change.commit_unaudited().await?,
    }
    Ok(ended.is_some())
}

/// Logs a browser out (the page's Sign out and JupyterHub's `GET /hub/logout` alike): ends the
/// session (and the OAuth tokens it authorized) with its audit row, and returns where the browser
/// goes next: the provider's end-session URL for an OpenID Connect session, else the sign-in page.
pub async fn log_out(
    hub: &crate::Hub,
    presented: Option<&str>,
    user: Option<&User>,
) -> Result<String, sqlx::Error> {
    let mut next = "/hub/login".to_owned();
    if let Some(token) = presented {
        if let Some(oidc) = hub.oidc() {
            if let Some(id_token) = id_token(hub, token).await? {
                if let Some(url) = oidc.logout_url(Some(&id_token)) {
                    next = url;
                }
            }
        }
        sign_out(hub, token, user).await?;
    }
    Ok(next)
}

/// The provider's ID token behind a presented session cookie, when it was an OpenID Connect sign-in.
pub async fn id_token(hub: &Hub, presented: &str) -> Result<Option<String>, sqlx::Error> {
    sessions::id_token(hub.db(), &SecretToken::from_presented(presented).hash()).await
}
