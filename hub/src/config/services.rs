//! `[[services]]`: programs that use the hub's API (JupyterHub's `c.JupyterHub.services`).
//!
//! A *managed* service has a `command`: the hub starts it, gives it an API token and the
//! environment JupyterHub gives its services, and starts it again when it exits. An *external*
//! one runs on its own and presents the `api_token` configured here. Either may have a `url`:
//! `/services/NAME/` is then proxied to it (the path unchanged), and it gets an OAuth client
//! (`service-NAME`) so that people can sign in to it with their hub account. What a service may
//! do is what the `[[roles]]` that list it in `services` grant; nothing else.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The shortest `api_token` an external service may present.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// 1-32 characters of a-z, 0-9, '-' and '_': `/services/NAME/`, `service-NAME`.
    pub name: String,
    /// Where the service listens (`http://127.0.0.1:9000`); with it, `/services/NAME/` is
    /// proxied there and the service has an OAuth client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The token an external service presents (at least 16 characters). Managed services get
    /// one from the hub instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// A managed service's program and its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// A managed service's working directory (default: the hub's data directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// More environment variables for a managed service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Free-form information shown by `GET /hub/api/services/NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, String>,
    /// Whether the dashboard lists it (services with a URL only).
    #[serde(default = "yes")]
    pub display: bool,
    /// Skip the consent page when someone signs in to the service.
    #[serde(default)]
    pub oauth_no_confirm: bool,
}

fn yes() -> bool {
    true
}

/// Whether the hub runs it or it runs on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Managed,
    External,
}

impl ServiceConfig {
    pub fn kind(&self) -> ServiceKind {
        if self.command.is_empty() {
            ServiceKind::External
        } else {
            ServiceKind::Managed
        }
    }

    /// `/services/NAME/`.
    pub fn prefix(&self) -> String {
        format!("/services/{}/", self.name)
    }

    /// The service's OAuth client id, as JupyterHub names it.
    pub fn client_id(&self) -> String {
        format!("service-{}", self.name)
    }

    /// Where `url` points: `http://` with an IP address or `localhost`, and a port (80 when
    /// none is written). `None` without a URL or with one the proxy cannot reach.
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        let url = self.url.as_deref()?.trim_end_matches('/');
        let authority = url.strip_prefix("http://")?;
        let authority = authority.replacen("localhost", "127.0.0.1", 1);
        authority.parse().ok().or_else(|| format!("{authority}:80").parse().ok())
    }
}

pub(super) fn validate(services: &[ServiceConfig], roles: &[super::RoleConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for service in services {
        if !super::catalogue::valid_id(&service.name) {
            return Err(ConfigError::invalid(
                "services.name",
                format!("{:?}: use 1-32 characters of a-z, 0-9, '-' and '_'", service.name),
            ));
        }
        if !seen.insert(service.name.as_str()) {
            return Err(ConfigError::invalid("services.name", format!("{:?} appears twice", service.name)));
        }
        if let Some(url) = &service.url {
            super::hub::parse_origin(url).map_err(|m| {
                ConfigError::invalid("services.url", format!("service {:?}: {url:?}: {m}", service.name))
            })?;
            if service.socket_addr().is_none() {
                return Err(ConfigError::invalid(
                    "services.url",
                    format!(
                        "service {:?}: {url:?}: use http:// with an IP address or localhost, and a port",
                        service.name
                    ),
                ));
            }
        }
        match (service.kind(), &service.api_token) {
            (ServiceKind::Managed, Some(_)) => {
                return Err(ConfigError::invalid(
                    "services.api_token",
                    format!("service {:?} has a command: the hub gives it its token", service.name),
                ))
            }
            (ServiceKind::External, Some(token)) if token.len() < MIN_TOKEN_LEN => {
                return Err(ConfigError::invalid(
                    "services.api_token",
                    format!("service {:?}: use at least {MIN_TOKEN_LEN} characters", service.name),
                ))
            }
            (ServiceKind::External, None) if service.url.is_none() => {
                return Err(ConfigError::invalid(
                    "services",
                    format!("service {:?} has neither a command, a url nor an api_token", service.name),
                ))
            }
            _ => {}
        }
        if let Some(cwd) = &service.cwd {
            if !cwd.is_absolute() {
                return Err(ConfigError::invalid(
                    "services.cwd",
                    format!("service {:?}: {} is not an absolute path", service.name, cwd.display()),
                ));
            }
        }
        if let Some(key) = service.environment.keys().find(|k| k.is_empty() || k.contains(['=', '\0'])) {
            return Err(ConfigError::invalid(
                "services.environment",
                format!("service {:?}: {key:?} is not a variable name", service.name),
            ));
        }
    }
    for role in roles {
        if let Some(unknown) = role.services.iter().find(|s| !seen.contains(s.as_str())) {
            return Err(ConfigError::invalid(
                "roles.services",
                format!("role {:?} names {unknown:?}, which is not in [[services]]", role.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn managed_and_external_services_parse_and_mistakes_are_named() {
        let ok = Config::from_toml_str(
            "[[services]]\nname = \"culler\"\ncommand = [\"python3\", \"-m\", \"jupyterhub_idle_culler\"]\n\
             [[services]]\nname = \"announce\"\nurl = \"http://127.0.0.1:9000\"\napi_token = \"0123456789abcdef0\"\n\
             [[roles]]\nname = \"culler\"\nscopes = [\"list:users\"]\nservices = [\"culler\"]\n",
        )
        .unwrap();
        assert_eq!(ok.services[0].kind(), super::ServiceKind::Managed);
        assert_eq!(ok.services[1].kind(), super::ServiceKind::External);
        assert_eq!(ok.services[1].prefix(), "/services/announce/");
        assert_eq!(ok.services[1].socket_addr(), Some("127.0.0.1:9000".parse().unwrap()));
        for (text, key) in [
            ("[[services]]\nname = \"Bad Name\"\ncommand = [\"x\"]\n", "services.name"),
            ("[[services]]\nname = \"a\"\napi_token = \"short\"\n", "services.api_token"),
            ("[[services]]\nname = \"a\"\ncommand = [\"x\"]\napi_token = \"0123456789abcdef0\"\n", "services.api_token"),
            ("[[services]]\nname = \"a\"\nurl = \"ftp://x\"\ncommand = [\"x\"]\n", "services.url"),
            ("[[services]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/path\"\ncommand = [\"x\"]\n", "services.url"),
            ("[[services]]\nname = \"a\"\n", "services"),
            ("[[services]]\nname = \"a\"\nurl = \"http://svc.example:1\"\ncommand = [\"x\"]\n", "services.url"),
            ("[[services]]\nname = \"a\"\ncommand = [\"x\"]\n[[services]]\nname = \"a\"\ncommand = [\"y\"]\n", "services.name"),
            ("[[roles]]\nname = \"r\"\nscopes = []\nservices = [\"nobody\"]\n", "roles.services"),
        ] {
            let err = Config::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
