use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::PasswordPolicy;

/// `[auth]`: who may sign in and how.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub local: LocalAuthConfig,
    pub oidc: OidcConfig,
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

/// A secret from the config: read like a string, never printed (`config check` shows `***`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(String);

impl ConfigSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

impl Serialize for ConfigSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

/// `[auth.oidc]`: sign-in through an OpenID Connect provider (Keycloak, Dex, Google, Entra ID, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// Env: `GANYMEDE_AUTH__OIDC__ENABLED`. Default `false`.
    pub enabled: bool,
    /// The issuer; its `/.well-known/openid-configuration` is read at start-up.
    pub issuer_url: String,
    pub client_id: String,
    /// Env: `GANYMEDE_AUTH__OIDC__CLIENT_SECRET` (keep it out of the file).
    pub client_secret: ConfigSecret,
    /// This hub's callback, registered at the provider: `{public_url}/hub/oauth_callback`.
    pub redirect_url: String,
    /// Scopes requested; `openid` is required.
    pub scopes: Vec<String>,
    /// The claim that gives the user name; `email` and then `sub` are tried when it is missing.
    pub username_claim: String,
    /// E-mail addresses in these domains become their local part as user name (`ann@uni.edu` → `ann`).
    pub username_email_domains: Vec<String>,
    /// The claim that lists the user's groups (empty: none).
    pub groups_claim: String,
    /// Replace each user's group memberships with the provider's groups at every sign-in.
    pub manage_groups: bool,
    /// Let everyone the provider authenticates in (otherwise only the allow rules below).
    pub allow_all: bool,
    pub allowed_users: Vec<String>,
    pub allowed_groups: Vec<String>,
    /// Admins (also allowed). When this or `admin_groups` is set, admin rights follow them at each sign-in.
    pub admin_users: Vec<String>,
    pub admin_groups: Vec<String>,
    /// Never let these in, whatever else says so.
    pub blocked_users: Vec<String>,
    /// The label of the sign-in button.
    pub button_label: String,
    /// Send people from the login page straight to the provider.
    pub auto_login: bool,
    /// Where the provider sends people after logout (must be registered there). Empty: the hub's
    /// login page, derived from `redirect_url`.
    pub post_logout_redirect_url: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer_url: String::new(),
            client_id: String::new(),
            client_secret: ConfigSecret::default(),
            redirect_url: String::new(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            username_claim: "preferred_username".into(),
            username_email_domains: Vec::new(),
            groups_claim: "groups".into(),
            manage_groups: true,
            allow_all: false,
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            admin_users: Vec::new(),
            admin_groups: Vec::new(),
            blocked_users: Vec::new(),
            button_label: "Sign in with OpenID Connect".into(),
            auto_login: false,
            post_logout_redirect_url: String::new(),
        }
    }
}

fn is_http_url(value: &str) -> bool {
    (value.starts_with("https://") || value.starts_with("http://")) && value.len() > "https://".len()
}

impl OidcConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if !is_http_url(&self.issuer_url) {
            return Err(ConfigError::invalid("auth.oidc.issuer_url", "must be an http(s) URL"));
        }
        if self.client_id.is_empty() {
            return Err(ConfigError::invalid("auth.oidc.client_id", "must be set"));
        }
        if !is_http_url(&self.redirect_url) || !self.redirect_url.ends_with("/hub/oauth_callback") {
            return Err(ConfigError::invalid(
                "auth.oidc.redirect_url",
                "must be this hub's http(s) URL ending in /hub/oauth_callback",
            ));
        }
        if !self.post_logout_redirect_url.is_empty() && !is_http_url(&self.post_logout_redirect_url) {
            return Err(ConfigError::invalid("auth.oidc.post_logout_redirect_url", "must be an http(s) URL"));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(ConfigError::invalid("auth.oidc.scopes", "must include openid"));
        }
        if self.username_claim.is_empty() {
            return Err(ConfigError::invalid("auth.oidc.username_claim", "must name a claim"));
        }
        Ok(())
    }
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.oidc.validate()?;
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
        if !local.enabled && !self.oidc.enabled {
            return Err(ConfigError::invalid(
                "auth.local.enabled",
                "turn on local accounts or OpenID Connect (auth.oidc.enabled); nobody could sign in",
            ));
        }
        Ok(())
    }
}
