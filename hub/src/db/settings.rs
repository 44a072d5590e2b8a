//! `hub_settings`: facts about this installation.

use super::Pool;
use crate::secret::SecretToken;

/// This hub's id: made once, then stable, so the hub can find its own containers after a restart.
pub async fn hub_id(pool: &Pool) -> Result<String, sqlx::Error> {
    let candidate: String =
        SecretToken::generate().expose().chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect();
    sqlx::query("INSERT INTO hub_settings (key, value) VALUES ('hub_id', $1) ON CONFLICT (key) DO NOTHING")
        .bind(&candidate)
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT value FROM hub_settings WHERE key = 'hub_id'").fetch_one(pool).await
}
