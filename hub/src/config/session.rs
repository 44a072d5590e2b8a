use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[session]`: browser sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How long a sign-in lasts, in seconds. Env: `GANYMEDE_SESSION__MAX_AGE_SECONDS`.
    /// Default `1209600` (14 days).
    pub max_age_seconds: u64,
    /// Name of the session cookie. Env: `GANYMEDE_SESSION__COOKIE_NAME`. Default `ganymede-session`.
    pub cookie_name: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { max_age_seconds: 14 * 24 * 3600, cookie_name: "ganymede-session".into() }
    }
}

impl SessionConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_age_seconds == 0 || self.max_age_seconds > 366 * 24 * 3600 {
            return Err(ConfigError::invalid("session.max_age_seconds", "must be between 1 and 31622400"));
        }
        let name_ok = !self.cookie_name.is_empty()
            && self.cookie_name.len() <= 64
            && self.cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(ConfigError::invalid(
                "session.cookie_name",
                "use 1-64 characters of letters, digits, '-' and '_'",
            ));
        }
        Ok(())
    }
}
