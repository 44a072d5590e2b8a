//! Browser sessions: a random id in the cookie, its SHA-256 in the database.

use tracing::info;

use crate::accounts::{self, AccountError, User};
use crate::db::{self, events, sessions, Pool};
use crate::secret::SecretToken;

/// A session that was just created: the cookie value (shown once) and when it ends.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretToken,
    pub expires_at_ms: i64,
}

pub async fn create(pool: &Pool, user: &User, max_age_seconds: u64) -> Result<NewSession, sqlx::Error> {
    let token = SecretToken::generate();
    let max_age_ms = i64::try_from(max_age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let expires_at_ms = db::now_ms().saturating_add(max_age_ms);
    sessions::insert(pool, user.id, &token.hash(), expires_at_ms).await?;
    events::record(
        pool,
        Some(user.name.as_str()),
        "session.login",
        Some(user.name.as_str()),
        serde_json::json!({}),
    )
    .await?;
    info!(user.name = %user.name, "signed in");
    Ok(NewSession { token, expires_at_ms })
}

/// The user behind a presented cookie value, when the session is live and the account usable.
pub async fn resolve(pool: &Pool, presented: &str) -> Result<Option<User>, AccountError> {
    if presented.is_empty() || presented.len() > 128 {
        return Ok(None);
    }
    let hash = SecretToken::from_presented(presented).hash();
    let Some(session) = sessions::live_by_hash(pool, &hash).await? else {
        return Ok(None);
    };
    let Some(user) = accounts::find_by_id(pool, session.user_id).await? else {
        return Ok(None);
    };
    if user.blocked || !user.approved {
        return Ok(None);
    }
    Ok(Some(user))
}

/// Ends the session with this cookie value. Returns whether one existed.
pub async fn revoke(pool: &Pool, presented: &str) -> Result<bool, sqlx::Error> {
    sessions::delete_by_hash(pool, &SecretToken::from_presented(presented).hash()).await
}
