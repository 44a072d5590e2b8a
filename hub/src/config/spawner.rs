//! `[spawner]`: which spawner starts servers (`kind`), and each spawner's own section.

use serde::{Deserialize, Serialize};

use super::catalogue::valid_id;
use super::ConfigError;

/// The spawner new servers start on. Servers started by another kind before a change are still
/// stopped and reconciled by theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpawnerChoice {
    /// One container per server on a Docker engine (`[spawner.docker]`).
    #[default]
    Docker,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpawnerConfig {
    /// `"docker"`. Env: `GANYMEDE_SPAWNER__KIND`. Default `docker`.
    pub kind: SpawnerChoice,
    pub docker: DockerConfig,
}

/// `[spawner.docker]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// Docker engine address: empty for the local default (`DOCKER_HOST` or the Unix socket),
    /// or `unix:///path`, `tcp://host:port`. Env: `GANYMEDE_SPAWNER__DOCKER__HOST`.
    pub host: String,
    /// Processes a notebook container may run. Default `1024`.
    pub pids_limit: i64,
    /// Path in the container where the user's volume is mounted. Default `/home/jovyan`.
    pub notebook_dir: String,
    /// Label prefix and name prefix of containers and volumes this hub owns. Default `ganymede`.
    pub prefix: String,
    /// The Docker network notebook containers join. The hub creates it when missing, with
    /// inter-container communication off, so servers cannot reach each other; an existing network
    /// of that name that allows it is refused. Default `ganymede-servers`.
    pub network: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            pids_limit: 1024,
            notebook_dir: "/home/jovyan".into(),
            prefix: "ganymede".into(),
            network: "ganymede-servers".into(),
        }
    }
}

impl SpawnerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.docker.validate()
    }
}

impl DockerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.pids_limit < 16 {
            return Err(ConfigError::invalid("spawner.docker.pids_limit", "must be at least 16"));
        }
        if !self.notebook_dir.starts_with('/') {
            return Err(ConfigError::invalid("spawner.docker.notebook_dir", "must be an absolute path"));
        }
        if !valid_id(&self.prefix) {
            return Err(ConfigError::invalid(
                "spawner.docker.prefix",
                "use 1-32 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if !valid_network_name(&self.network) {
            return Err(ConfigError::invalid(
                "spawner.docker.network",
                "use 1-64 characters of a-z, A-Z, 0-9, '-', '_' and '.', starting with a letter or digit",
            ));
        }
        Ok(())
    }
}

/// Docker's own rule for network names, kept to a safe length.
fn valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
