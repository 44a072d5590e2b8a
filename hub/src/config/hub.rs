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
    /// Browser origins (`scheme://host[:port]`) besides the hub's own that may open websockets to
    /// users' servers and read their CORS answers, e.g. `["https://lab.example.org"]`. The hub's
    /// own origin (`public_url`, else the request's `Host`) is always allowed. Default: none.
    pub allowed_origins: Vec<String>,
    /// Port of the API-only listener single-user servers call (`JUPYTERHUB_API_URL`), bound on
    /// the address the spawner's workloads reach the host on (the hub's Docker network's
    /// gateway) when a flavour has `kind = "jupyterhub-singleuser"`. 0: any free port (then a
    /// restarted hub is on another port than its running servers were told). Default `8081`.
    pub servers_api_port: u16,
    /// `JUPYTERHUB_API_URL` as servers should use it, when they reach the hub some other way
    /// (a hub in a container, a proxy in between); the listener is not bound then. Default: none.
    pub servers_api_url: Option<String>,
    /// Seconds a stopping hub (SIGTERM, Ctrl-C) gives requests in flight to finish after it
    /// stops taking new ones; then it exits 0 whatever is still open. Servers keep running either
    /// way. Default `10`.
    pub shutdown_grace_seconds: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            data_dir: PathBuf::from("data"),
            allowed_origins: Vec::new(),
            servers_api_port: 8081,
            servers_api_url: None,
            shutdown_grace_seconds: 10,
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

    /// `scheme://host[:port]`, as browsers send it in `Origin` (a default port left out).
    pub fn origin(&self) -> String {
        let default_port = if self.is_https() { ":443" } else { ":80" };
        let host = self.host.strip_suffix(default_port).unwrap_or(&self.host);
        format!("{}://{host}", self.scheme)
    }
}

/// Parses one entry of `hub.allowed_origins` into the form browsers send in `Origin`.
pub fn parse_origin(input: &str) -> Result<String, String> {
    let url = PublicUrl::parse(input)?;
    let (_, rest) = input.split_once("://").unwrap_or_default();
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or_default();
    if !path.is_empty() && path != "/" {
        return Err(format!("an origin has no path: {input:?}"));
    }
    Ok(url.origin())
}

impl HubConfig {
    pub fn public_url(&self) -> Option<PublicUrl> {
        self.public_url.as_deref().and_then(|u| PublicUrl::parse(u).ok())
    }

    /// `hub.allowed_origins`, each as browsers spell it in `Origin`.
    pub fn allowed_origins(&self) -> Vec<String> {
        self.allowed_origins.iter().filter_map(|o| parse_origin(o).ok()).collect()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            PublicUrl::parse(url).map_err(|m| ConfigError::invalid("hub.public_url", m))?;
        }
        for origin in &self.allowed_origins {
            parse_origin(origin).map_err(|m| ConfigError::invalid("hub.allowed_origins", m))?;
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("hub.data_dir", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_spelled_as_browsers_send_them() {
        assert_eq!(parse_origin("https://Lab.Example.org/").unwrap(), "https://lab.example.org");
        assert_eq!(parse_origin("https://lab.example.org:443").unwrap(), "https://lab.example.org");
        assert_eq!(parse_origin("http://127.0.0.1:8000").unwrap(), "http://127.0.0.1:8000");
        assert!(parse_origin("https://lab.example.org/path").is_err());
        assert!(parse_origin("null").is_err());
        assert!(parse_origin("ftp://x").is_err());
    }
}
