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
    /// One local process per server, as the hub's user or a system account (`[spawner.local]`).
    Local,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpawnerConfig {
    /// `"docker"` or `"local"`. Env: `GANYMEDE_SPAWNER__KIND`. Default `docker`.
    pub kind: SpawnerChoice,
    pub docker: DockerConfig,
    pub local: LocalConfig,
}

/// Whose account a local server runs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserMapping {
    /// The hub's own account: every server runs as the user the hub runs as.
    #[default]
    Hub,
    /// A system account named like the hub user; only when the hub runs as root.
    System,
}

/// How a local server's size is enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalLimits {
    /// cgroups (v1) where the hub may create them, else rlimits (memory only).
    #[default]
    Auto,
    /// cgroups only: a start fails when they cannot be made.
    Cgroup,
    /// `RLIMIT_AS` for memory; CPU is not limited.
    Rlimit,
    /// No limits.
    None,
}

/// `[spawner.local]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Directory under which each user gets a home `{home_root}/{user}`: an absolute path, or
    /// empty for `{hub.data_dir}/homes`. Env: `GANYMEDE_SPAWNER__LOCAL__HOME_ROOT`.
    pub home_root: String,
    /// `"hub"` (run as the hub's own user) or `"system"` (a system account of the user's name;
    /// the hub must run as root). Default `hub`.
    pub user_mapping: UserMapping,
    /// With `user_mapping = "system"`: create a missing account with `useradd` on first start.
    /// Default `false`.
    pub create_system_users: bool,
    /// `"auto"`, `"cgroup"`, `"rlimit"` or `"none"`. Default `auto`.
    pub limits: LocalLimits,
    /// The cgroup v1 root; the hub makes `{cgroup_root}/{memory,cpu}/ganymede/...` below it.
    /// Default `/sys/fs/cgroup`.
    pub cgroup_root: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            home_root: String::new(),
            user_mapping: UserMapping::Hub,
            create_system_users: false,
            limits: LocalLimits::Auto,
            cgroup_root: "/sys/fs/cgroup".into(),
        }
    }
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
    /// How a GPU server gets exactly its GPUs: `device-request` (Docker device requests naming
    /// the UUIDs; needs the NVIDIA Container Toolkit's runtime hook) or `nvidia-runtime-env`
    /// (`NVIDIA_VISIBLE_DEVICES` set to the UUIDs; for engines whose default runtime is
    /// `nvidia`). Default `device-request`.
    pub gpu_attach: GpuAttach,
}

/// `[spawner.docker] gpu_attach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuAttach {
    #[default]
    DeviceRequest,
    NvidiaRuntimeEnv,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            pids_limit: 1024,
            notebook_dir: "/home/jovyan".into(),
            prefix: "ganymede".into(),
            network: "ganymede-servers".into(),
            gpu_attach: GpuAttach::DeviceRequest,
        }
    }
}

impl SpawnerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.docker.validate()?;
        self.local.validate()
    }
}

impl LocalConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.home_root.is_empty() && !self.home_root.starts_with('/') {
            return Err(ConfigError::invalid(
                "spawner.local.home_root",
                "must be an absolute path, or empty for {hub.data_dir}/homes",
            ));
        }
        if self.create_system_users && self.user_mapping != UserMapping::System {
            return Err(ConfigError::invalid(
                "spawner.local.create_system_users",
                "only applies with spawner.local.user_mapping = \"system\"",
            ));
        }
        if !self.cgroup_root.starts_with('/') {
            return Err(ConfigError::invalid("spawner.local.cgroup_root", "must be an absolute path"));
        }
        Ok(())
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
