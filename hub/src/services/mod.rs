//! Services (`[[services]]`): who they are to the hub, what they may do, and where
//! `/services/NAME/` goes. The managed ones are run by [`supervisor`].
//!
//! A service is a principal of the access policy like a user: its token (the configured
//! `api_token` of an external service; for a managed one, derived from the hub secret, so a
//! restarted hub and a still-running service agree on it) is recognised by
//! [`crate::access::bearer`], and its scopes are exactly those of the `[[roles]]` that list it.
//! Nothing about a service lives only in memory: all of it comes from the config file and the
//! hub secret, and its OAuth client is a row written at start-up.

pub mod supervisor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{Config, ServiceConfig, ServiceKind};
use crate::scopes::{self, Scopes};
use crate::secret::SecretToken;
use crate::Hub;

/// One configured service, as the hub knows it.
#[derive(Debug)]
pub struct Service {
    pub config: ServiceConfig,
    /// Its API token (the hub hands it to a managed service; an external one presents it).
    token: Option<SecretToken>,
    /// The scopes of the roles that list it.
    pub scopes: Arc<Scopes>,
    /// The names of those roles.
    pub roles: Vec<String>,
    /// The process id of a managed service while this process runs it (0: not running here).
    pid: AtomicU32,
}

impl Service {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn kind(&self) -> ServiceKind {
        self.config.kind()
    }

    /// The process id of a managed service that this hub process runs.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }

    pub(crate) fn set_pid(&self, pid: Option<u32>) {
        self.pid.store(pid.unwrap_or(0), Ordering::Relaxed);
    }

    /// The token a managed service is given.
    pub(crate) fn token(&self) -> Option<&SecretToken> {
        self.token.as_ref()
    }
}

/// Every configured service, by name and by token hash.
#[derive(Debug, Default)]
pub struct Services {
    all: Vec<Arc<Service>>,
    by_token_hash: HashMap<String, usize>,
}

impl Services {
    pub(crate) fn new(config: &Config, secret: &str) -> Self {
        let mut all = Vec::new();
        let mut by_token_hash = HashMap::new();
        for service in &config.services {
            let token = match service.kind() {
                ServiceKind::Managed => {
                    Some(SecretToken::from_presented(&managed_token(secret, &service.name)))
                }
                ServiceKind::External => service.api_token.as_deref().map(SecretToken::from_presented),
            };
            let held: Vec<&crate::config::RoleConfig> =
                config.roles.iter().filter(|r| r.services.contains(&service.name)).collect();
            let scopes =
                Scopes::default().with_shared(held.iter().flat_map(|r| r.scopes.iter().map(String::as_str)));
            if let Some(token) = &token {
                by_token_hash.insert(token.hash(), all.len());
            }
            all.push(Arc::new(Service {
                config: service.clone(),
                token,
                scopes: Arc::new(scopes),
                roles: held.iter().map(|r| r.name.clone()).collect(),
                pid: AtomicU32::new(0),
            }));
        }
        Self { all, by_token_hash }
    }

    pub fn all(&self) -> &[Arc<Service>] {
        &self.all
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Service>> {
        self.all.iter().find(|s| s.name() == name)
    }

    /// The service whose token hashes to `hash` (hashes are compared as map keys: the hash, not
    /// the token, is what an attacker would have to guess).
    pub(crate) fn by_token_hash(&self, hash: &str) -> Option<&Arc<Service>> {
        self.by_token_hash.get(hash).map(|i| &self.all[*i])
    }
}

/// A managed service's token: the hub secret and the service's name, hashed.
fn managed_token(secret: &str, name: &str) -> String {
    hex::encode(Sha256::digest(format!("{secret}:service:{name}").as_bytes()))
}

/// Registers each service that has a URL as an OAuth client (`service-NAME`, redirect URI
/// `/services/NAME/oauth_callback`, secret: its token) and drops the clients of services no longer
/// configured. Run at start-up.
pub async fn register_clients(hub: &Hub) -> Result<(), sqlx::Error> {
    let mut change = crate::change::Change::begin(hub).await?;
    let mut kept = Vec::new();
    for service in hub.services().all() {
        let (Some(_), Some(token)) = (&service.config.url, service.token()) else { continue };
        let client_id = service.config.client_id();
        let redirect_uri = format!("{}oauth_callback", service.config.prefix());
        let access = vec![format!("access:services!service={}", service.name())];
        crate::db::oauth::upsert_service_client(
            change.conn(),
            &client_id,
            &token.hash(),
            &redirect_uri,
            &scopes::encode_stored(&access),
            hub.clock().now_ms(),
        )
        .await?;
        kept.push(client_id);
    }
    crate::db::oauth::forget_other_service_clients(change.conn(), &kept).await?;
    change.commit_unaudited().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_managed_services_token_is_stable_per_secret_and_name() {
        assert_eq!(managed_token("s", "culler"), managed_token("s", "culler"));
        assert_ne!(managed_token("s", "culler"), managed_token("s", "other"));
        assert_ne!(managed_token("s", "culler"), managed_token("t", "culler"));
    }

    #[test]
    fn a_service_has_exactly_the_scopes_of_its_roles() {
        let config = Config::from_toml_str(
            "[[services]]\nname = \"culler\"\ncommand = [\"x\"]\n\
             [[services]]\nname = \"idle\"\nurl = \"http://127.0.0.1:9\"\napi_token = \"0123456789abcdef0\"\n\
             [[roles]]\nname = \"cull\"\nscopes = [\"list:users\", \"delete:servers\"]\nservices = [\"culler\"]\n",
        )
        .unwrap();
        let services = Services::new(&config, "secret");
        let culler = services.get("culler").unwrap();
        assert_eq!(culler.roles, ["cull"]);
        use crate::scopes::{Access, Resource, Scope};
        assert_eq!(culler.scopes.check(Scope::ListUsers, Resource::Hub), Access::Allowed);
        assert_ne!(culler.scopes.check(Scope::AdminUsers, Resource::Hub), Access::Allowed);
        let idle = services.get("idle").unwrap();
        assert!(idle.roles.is_empty());
        assert_ne!(idle.scopes.check(Scope::ListUsers, Resource::Hub), Access::Allowed);
        let hash = SecretToken::from_presented("0123456789abcdef0").hash();
        assert_eq!(services.by_token_hash(&hash).map(|s| s.name()), Some("idle"));
        let managed = SecretToken::from_presented(&managed_token("secret", "culler")).hash();
        assert_eq!(services.by_token_hash(&managed).map(|s| s.name()), Some("culler"));
    }
}
