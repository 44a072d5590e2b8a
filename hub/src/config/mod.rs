//! Typed configuration: one `ganymede.toml`, overridden by `GANYMEDE_<SECTION>__<KEY>` variables.
//!
//! Sources, later ones winning:
//! 1. built-in defaults (see `ganymede.example.toml` at the repository root, which documents every key);
//! 2. the config file: `--config PATH`, else `GANYMEDE_CONFIG`, else `./ganymede.toml` when present;
//! 3. environment variables `GANYMEDE_<SECTION>__<KEY>`, e.g. `GANYMEDE_HUB__BIND=0.0.0.0:8000`,
//!    `GANYMEDE_AUTH__LOCAL__ALLOW_SIGNUP=true`. Variables without `__` (such as `GANYMEDE_ADMIN_USER`)
//!    are not config keys and are left alone.
//!
//! Loading never panics: parse errors and validation errors come back as [`ConfigError`] naming the key.

mod auth;
mod catalogue;
mod culler;
mod database;
mod deprecated;
mod gpu_limits;
mod gpus;
mod hub;
mod log;
mod metrics;
mod roles;
mod servers;
mod services;
mod session;
mod spawner;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Dict;
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use auth::{AuthConfig, ConfigSecret, LocalAuthConfig, OidcConfig};
pub use catalogue::{FlavourConfig, FlavourKind, SizeConfig};
pub use culler::{CullPolicy, CullerConfig, SizeCulling};
pub use database::DatabaseConfig;
pub use deprecated::{Deprecation, Fate};
pub use gpu_limits::{GpuLimits, GpuLimitsConfig};
pub use gpus::{GpuDiscovery, StaticGpu};
pub use hub::{HubConfig, PublicUrl};
pub use log::{LogConfig, LogFormat};
pub use metrics::{AddressRange, MetricsConfig};
pub use roles::RoleConfig;
pub use servers::ServersConfig;
pub use services::{ServiceConfig, ServiceKind};
pub use session::SessionConfig;
pub use spawner::{
    DockerConfig, Egress, EgressTarget, GpuAttach, LocalConfig, LocalLimits, SpawnerChoice, SpawnerConfig,
    SubnetPool, UserMapping,
};

/// The name of the config file looked for in the working directory.
pub const DEFAULT_FILE: &str = "ganymede.toml";

/// The prefix of configuration variables: `GANYMEDE_HUB__BIND` is `hub.bind`.
pub const ENV_PREFIX: &str = "GANYMEDE_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub hub: HubConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub session: SessionConfig,
    pub servers: ServersConfig,
    pub spawner: SpawnerConfig,
    /// Notebook flavours (images) people can pick. A list in the file replaces the defaults.
    pub flavours: Vec<FlavourConfig>,
    /// Sizes (CPU, memory, GPUs) people can pick. A list in the file replaces the defaults.
    pub sizes: Vec<SizeConfig>,
    /// A static GPU inventory, for hosts where neither NVML nor `nvidia-smi` can be used.
    pub gpus: Vec<StaticGpu>,
    /// GPU quotas and how they are enforced.
    pub gpu_limits: GpuLimitsConfig,
    /// Custom roles for users, groups and services.
    pub roles: Vec<RoleConfig>,
    /// Programs that use the hub's API: managed (the hub runs them) or external.
    pub services: Vec<ServiceConfig>,
    /// The hub's own idle culler.
    pub culler: CullerConfig,
    /// Who may read `/hub/metrics`.
    pub metrics: MetricsConfig,
    /// How the hub writes its log.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hub: HubConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            session: SessionConfig::default(),
            servers: ServersConfig::default(),
            spawner: SpawnerConfig::default(),
            flavours: catalogue::default_flavours(),
            sizes: catalogue::default_sizes(),
            gpus: Vec::new(),
            gpu_limits: GpuLimitsConfig::default(),
            roles: Vec::new(),
            services: Vec::new(),
            culler: CullerConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("{0}")]
    Parse(String),
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { key, message: message.into() }
    }
}

fn parse_error(e: figment::Error) -> ConfigError {
    let messages: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
    ConfigError::Parse(messages.join("; "))
}

impl Config {
    /// Loads defaults, then the file (explicit path, or `ganymede.toml` when it exists), then the
    /// environment, and validates the result. Deprecated keys in use are logged as warnings.
    pub fn load(explicit_file: Option<&Path>) -> Result<Self, ConfigError> {
        let (config, deprecated) = Self::load_noting(explicit_file)?;
        for note in &deprecated {
            tracing::warn!("{note}");
        }
        Ok(config)
    }

    /// As [`Config::load`], returning the deprecated keys in use instead of logging them.
    pub fn load_noting(explicit_file: Option<&Path>) -> Result<(Self, Vec<Deprecation>), ConfigError> {
        let file = match explicit_file {
            Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_owned())),
            Some(path) => Some(path.to_owned()),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
        };
        let mut layers = Vec::new();
        if let Some(path) = file {
            layers.push((Some(path.display().to_string()), Figment::from(Toml::file_exact(path))));
        }
        let env = Env::prefixed(ENV_PREFIX).filter(|key| key.as_str().contains("__")).split("__");
        layers.push((None, Figment::from(env)));
        Self::from_layers(layers)
    }

    /// Parses a config from TOML text alone (defaults underneath, no environment): for tests and
    /// for checking the example file.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let layer = Figment::from(Toml::string(text));
        Ok(Self::from_layers(vec![(Some("the given text".to_owned()), layer)])?.0)
    }

    /// Defaults, then each source in turn; a source that sets deprecated keys has them moved first.
    fn from_layers(layers: Vec<(Option<String>, Figment)>) -> Result<(Self, Vec<Deprecation>), ConfigError> {
        let mut figment = Figment::new().merge(Serialized::defaults(Config::default()));
        let mut notes = Vec::new();
        for (source, layer) in layers {
            if deprecated::present(&layer) {
                let mut values: Dict = layer.extract().map_err(parse_error)?;
                deprecated::rewrite(&mut values, source.as_deref(), &mut notes);
                figment = figment.merge(Serialized::defaults(values));
            } else {
                figment = figment.merge(layer);
            }
        }
        Ok((Self::from_figment(figment)?, notes))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(parse_error)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.hub.validate()?;
        self.database.validate()?;
        self.auth.validate()?;
        self.session.validate()?;
        self.servers.validate()?;
        self.spawner.validate()?;
        gpus::validate(&self.gpus)?;
        self.gpu_limits.validate()?;
        roles::validate(&self.roles)?;
        services::validate(&self.services, &self.roles)?;
        catalogue::validate_catalogue(&self.flavours, &self.sizes, self.spawner.kind)?;
        self.culler.validate(&self.sizes)?;
        Ok(())
    }

    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.hub.data_dir.join("ganymede.db").display()),
        }
    }

    /// Whether cookies must carry `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.hub.public_url().map(|u| u.is_https()).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn the_example_file_parses_and_equals_the_defaults() {
        let text = include_str!("../../../ganymede.example.toml");
        let parsed = Config::from_toml_str(text).unwrap();
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::to_value(Config::default()).unwrap(),
            "ganymede.example.toml must list the defaults"
        );
    }

    #[test]
    fn unknown_keys_are_named_in_the_error() {
        let err = Config::from_toml_str("[hub]\nbindd = \"1.2.3.4:5\"\n").unwrap_err().to_string();
        assert!(err.contains("bindd"), "{err}");
    }

    #[test]
    fn wrong_types_are_named_in_the_error() {
        let err = Config::from_toml_str("[session]\nmax_age_seconds = \"soon\"\n").unwrap_err().to_string();
        assert!(err.contains("max_age_seconds"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::from_toml_str("[hub]\npublic_url = \"ftp://x\"\n").unwrap_err().to_string();
        assert!(err.contains("hub.public_url"), "{err}");
        let err = Config::from_toml_str("[auth.local]\nmin_password_length = 0\n").unwrap_err().to_string();
        assert!(err.contains("auth.local.min_password_length"), "{err}");
    }

    #[test]
    fn keys_of_the_old_spawner_section_still_work_in_their_new_place() {
        let old = Config::from_toml_str("[spawner]\nnamed_servers_limit = 2\n").unwrap();
        assert_eq!(old.servers.named_servers_limit, 2);
        let err = Config::from_toml_str("[spawner]\nnamed_server_limit = 2\n").unwrap_err().to_string();
        assert!(err.contains("named_server_limit"), "{err}");
        let parsed =
            Config::from_toml_str("[servers]\nnamed_servers_limit = 2\n[spawner.docker]\nprefix = \"x\"\n")
                .unwrap();
        assert_eq!(parsed.servers.named_servers_limit, 2);
        assert_eq!(parsed.spawner.docker.prefix, "x");
        let err = Config::from_toml_str("[spawner]\nkind = \"kubernetes\"\n").unwrap_err().to_string();
        assert!(err.contains("kind") && err.contains("kubernetes"), "{err}");
    }

    #[test]
    fn gpu_limits_parse_per_user_and_group_and_bad_figures_are_named() {
        let c = Config::from_toml_str(
            "[gpu_limits.default]\ngpu_hours = 30\nwindow_days = 7\n[gpu_limits.groups.staff]\ngpus_at_once = 4\n\
             [gpu_limits.users.alice]\nmax_session_hours = 8.5\n",
        )
        .unwrap();
        assert_eq!(c.gpu_limits.default.gpu_hours, Some(30.0));
        assert_eq!(c.gpu_limits.groups["staff"].gpus_at_once, Some(4));
        assert_eq!(c.gpu_limits.users["alice"].max_session_hours, Some(8.5));
        let err = Config::from_toml_str("[gpu_limits.users.bob]\ngpu_hours = -1\n").unwrap_err().to_string();
        assert!(err.contains("gpu_limits.users") && err.contains("gpu_hours"), "{err}");
        let err = Config::from_toml_str("[gpu_limits.default]\nwindow_days = 0\n").unwrap_err().to_string();
        assert!(err.contains("window_days"), "{err}");
        let err = Config::from_toml_str("[gpu_limits.default]\ngpu_hour = 3\n").unwrap_err().to_string();
        assert!(err.contains("gpu_hour"), "{err}");
    }

    #[test]
    fn roles_name_real_scopes() {
        let ok = Config::from_toml_str(
            "[[roles]]\nname = \"instructors\"\nscopes = [\"servers!group=students\"]\ngroups = [\"instructors\"]\n",
        )
        .unwrap();
        assert_eq!(ok.roles[0].groups, ["instructors"]);
        let err = Config::from_toml_str("[[roles]]\nname = \"x\"\nscopes = [\"servers!nonsense\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("roles.scopes"), "{err}");
        let err =
            Config::from_toml_str("[[roles]]\nname = \"admin\"\nscopes = []\n").unwrap_err().to_string();
        assert!(err.contains("roles.name"), "{err}");
    }

    #[test]
    fn a_flavour_that_does_not_say_runs_jupyterhub_singleuser_and_the_built_in_ones_jupyterlab() {
        let c = Config::from_toml_str(
            "[[flavours]]\nid = \"lab\"\ndisplay_name = \"Lab\"\nimage = \"example/lab:1\"\n",
        )
        .unwrap();
        assert_eq!(c.flavours[0].kind, FlavourKind::JupyterhubSingleuser);
        assert!(Config::default().flavours.iter().all(|f| f.kind == FlavourKind::Jupyterlab));
        // The local spawner runs either kind.
        let local = Config::from_toml_str(
            "[spawner]\nkind = \"local\"\n[[flavours]]\nid = \"lab\"\ndisplay_name = \"Lab\"\n\
             environment = \"/opt/venv\"\n",
        )
        .unwrap();
        assert_eq!(local.flavours[0].kind, FlavourKind::JupyterhubSingleuser);
    }

    #[test]
    fn local_spawner_keys_are_validated_by_name() {
        let err = Config::from_toml_str("[spawner]\nkind = \"local\"\n").unwrap_err().to_string();
        assert!(err.contains("flavours.environment") && err.contains("base"), "{err}");
        let flavour = "[[flavours]]\nid = \"base\"\ndisplay_name = \"Base\"\n";
        let err =
            Config::from_toml_str(&format!("[spawner]\nkind = \"local\"\n{flavour}environment = \"venv\"\n"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("flavours.environment") && err.contains("absolute"), "{err}");
        let ok = Config::from_toml_str(&format!(
            "[spawner]\nkind = \"local\"\n[spawner.local]\nuser_mapping = \"system\"\n\
             create_system_users = true\n{flavour}environment = \"/opt/venv\"\n"
        ))
        .unwrap();
        assert_eq!(ok.spawner.kind, SpawnerChoice::Local);
        assert_eq!(ok.spawner.local.user_mapping, UserMapping::System);
        assert!(ok.flavours[0].image.is_empty());
        let err = Config::from_toml_str(&format!("{flavour}environment = \"/opt/venv\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("flavours.image"), "{err}");
        let err = Config::from_toml_str("[spawner.local]\nhome_root = \"homes\"\n").unwrap_err().to_string();
        assert!(err.contains("spawner.local.home_root"), "{err}");
        let err =
            Config::from_toml_str("[spawner.local]\ncreate_system_users = true\n").unwrap_err().to_string();
        assert!(err.contains("spawner.local.create_system_users"), "{err}");
        let err =
            Config::from_toml_str("[spawner.local]\nuser_mapping = \"root\"\n").unwrap_err().to_string();
        assert!(err.contains("user_mapping"), "{err}");
    }

    #[test]
    fn https_public_url_means_secure_cookies() {
        let c = Config::from_toml_str("[hub]\npublic_url = \"https://hub.example.org/\"\n").unwrap();
        assert!(c.secure_cookies());
        assert!(!Config::default().secure_cookies());
    }
}
