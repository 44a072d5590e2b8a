use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::PasswordPolicy;

/// `[auth]`: who may sign in and how.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub local: LocalAuthConfig,
}

/// `[auth.local]`: accounts with passwords stored (hashed with argon2id) in the hub's database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalAuthConfig {
    /// Local password sign-in. Env: `GANYMEDE_AUTH__LOCAL__ENABLED`. Default `true`.
    pub enabled: bool,
    /// Anyone may request an account at `/hub/signup`; it stays unusable until an admin approves it.
    /// Env: `GANYMEDE_AUTH__LOCAL__ALLOW_SIGNUP`. Default `false`.
    pub allow_signup: bool,
    /// Shortest password accepted. Env: `GANYMEDE_AUTH__LOCAL__MIN_PASSWORD_LENGTH`. Default `8`.
    pub min_password_length: usize,
    /// Failed sign-ins for one user name within the window before further attempts are refused.
    /// Env: `GANYMEDE_AUTH__LOCAL__LOCKOUT_MAX_FAILURES`. Default `5`.
    pub lockout_max_failures: u32,
    /// Length of the lockout window, in seconds. Env: `GANYMEDE_AUTH__LOCAL__LOCKOUT_WINDOW_SECONDS`.
    /// Default `300`.
    pub lockout_window_seconds: u64,
}

impl Default for LocalAuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_signup: false,
            min_password_length: 8,
            lockout_max_failures: 5,
            lockout_window_seconds: 300,
        }
    }
}

impl LocalAuthConfig {
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy { min_length: self.min_password_length }
    }
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let local = &self.local;
        if !(1..=128).contains(&local.min_password_length) {
            return Err(ConfigError::invalid("auth.local.min_password_length", "must be between 1 and 128"));
        }
        if local.lockout_max_failures == 0 {
            return Err(ConfigError::invalid("auth.local.lockout_max_failures", "must be at least 1"));
        }
        if local.lockout_window_seconds == 0 {
            return Err(ConfigError::invalid("auth.local.lockout_window_seconds", "must be at least 1"));
        }
        if !local.enabled {
            return Err(ConfigError::invalid(
                "auth.local.enabled",
                "local accounts are the only sign-in method in this version; keep it true",
            ));
        }
        Ok(())
    }
}
