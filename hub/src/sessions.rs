//! Browser sessions: a random id in the cookie, its SHA-256 in the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::info;

use crate::accounts::{self, AccountError, User};
use crate::db::{self, events, sessions, Pool};
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
    pool: &Pool,
    user: &User,
    max_age_seconds: u64,
    id_token: Option<&str>,
) -> Result<NewSession, sqlx::Error> {
    let token = SecretToken::generate();
    let max_age_ms = i64::try_from(max_age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let expires_at_ms = db::now_ms().saturating_add(max_age_ms);
    sessions::insert(pool, user.id, &token.hash(), expires_at_ms, id_token).await?;
    let via = if id_token.is_some() { "oidc" } else { "password" };
    events::record(
        pool,
        Some(user.name.as_str()),
        "session.login",
        Some(user.name.as_str()),
        serde_json::json!({ "via": via }),
    )
    .await?;
    info!(user.name = %user.name, "signed in");
    Ok(NewSession { token, expires_at_ms })
}

/// How long a resolved session is trusted without asking the database again. Sign-out, password
/// changes and account changes made through this hub drop the cache at once (see
/// [`db::auth_generation`]); this bounds staleness for changes made elsewhere (another replica).
const CACHE_TTL: Duration = Duration::from_secs(10);
const CACHE_MAX: usize = 10_000;

struct Cached {
    user: User,
    expires_at_ms: i64,
    cached_at: Instant,
    generation: u64,
}

/// Recently resolved sessions, so proxied traffic does not cost a database query per request.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl SessionCache {
    fn get(&self, hash: &str) -> Option<User> {
        let entries = self.entries.lock().ok()?;
        let c = entries.get(hash)?;
        let fresh = c.generation == db::auth_generation()
            && c.cached_at.elapsed() < CACHE_TTL
            && c.expires_at_ms > db::now_ms();
        fresh.then(|| c.user.clone())
    }

    fn put(&self, hash: String, user: User, expires_at_ms: i64, generation: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
            entries.insert(hash, Cached { user, expires_at_ms, cached_at: Instant::now(), generation });
        }
    }
}

/// The user behind a presented cookie value, when the session is live and the account usable.
pub async fn resolve(hub: &Hub, presented: &str) -> Result<Option<User>, AccountError> {
    if presented.is_empty() || presented.len() > 128 {
        return Ok(None);
    }
    let hash = SecretToken::from_presented(presented).hash();
    if let Some(user) = hub.session_cache().get(&hash) {
        return Ok(Some(user));
    }
    let generation = db::auth_generation();
    let pool = hub.db();
    let Some(session) = sessions::live_by_hash(pool, &hash).await? else {
        return Ok(None);
    };
    let Some(user) = accounts::find_by_id(pool, session.user_id).await? else {
        return Ok(None);
    };
    if user.blocked || !user.approved {
        return Ok(None);
    }
    hub.session_cache().put(hash, user.clone(), session.expires_at, generation);
    Ok(Some(user))
}

/// Signs out: ends the session with this cookie value and, for a known user, writes the audit
/// row. Returns whether a session existed.
pub async fn sign_out(pool: &Pool, presented: &str, user: Option<&User>) -> Result<bool, sqlx::Error> {
    let ended = revoke(pool, presented).await?;
    if let Some(user) = user {
        let name = Some(user.name.as_str());
        events::record(pool, name, "session.logout", name, serde_json::json!({})).await?;
    }
    Ok(ended)
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
            if let Some(id_token) = id_token(hub.db(), token).await? {
                if let Some(url) = oidc.logout_url(Some(&id_token)) {
                    next = url;
                }
            }
        }
        sign_out(hub.db(), token, user).await?;
    }
    Ok(next)
}

/// Ends the session with this cookie value. Returns whether one existed.
pub async fn revoke(pool: &Pool, presented: &str) -> Result<bool, sqlx::Error> {
    sessions::delete_by_hash(pool, &SecretToken::from_presented(presented).hash()).await
}

/// The provider's ID token behind a presented session cookie, when it was an OpenID Connect sign-in.
pub async fn id_token(pool: &Pool, presented: &str) -> Result<Option<String>, sqlx::Error> {
    sessions::id_token(pool, &SecretToken::from_presented(presented).hash()).await
}
