use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[hub]`: where the hub listens and keeps its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Address and port to listen on. Env: `GANYMEDE_HUB__BIND`. Default `127.0.0.1:8000`.
    pub bind: SocketAddr,
    /// The URL people use to reach the hub, e.g. `https://hub.example.org/`. When it is https,
    /// cookies are marked `Secure`. Env: `GANYMEDE_HUB__PUBLIC_URL`. Default: none (`http://{bind}`).
    pub public_url: Option<String>,
    /// Directory for the SQLite database and other state. Created when missing.
    /// Env: `GANYMEDE_HUB__DATA_DIR`. Default `data`.
    pub data_dir: PathBuf,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            data_dir: PathBuf::from("data"),
        }
    }
}

/// A parsed `hub.public_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    scheme: String,
    host: String,
}

impl PublicUrl {
    pub fn parse(input: &str) -> Result<Self, String> {
        let (scheme, rest) =
            input.split_once("://").ok_or("expected a URL such as https://hub.example.org/")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("the scheme must be http or https, not {scheme:?}"));
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains(['@', ' ', '?', '#']) {
            return Err("the URL needs a host (and no user info)".into());
        }
        Ok(Self { scheme, host: host.to_ascii_lowercase() })
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

impl HubConfig {
    pub fn public_url(&self) -> Option<PublicUrl> {
        self.public_url.as_deref().and_then(|u| PublicUrl::parse(u).ok())
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            PublicUrl::parse(url).map_err(|m| ConfigError::invalid("hub.public_url", m))?;
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("hub.data_dir", "must not be empty"));
        }
        Ok(())
    }
}
