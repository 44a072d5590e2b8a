use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[spawner]`: how notebook servers are started.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpawnerConfig {
    /// Docker engine address: empty for the local default (`DOCKER_HOST` or the Unix socket),
    /// or `unix:///path`, `tcp://host:port`. Env: `GANYMEDE_SPAWNER__DOCKER_HOST`.
    pub docker_host: String,
    /// Seconds a server may take from "start" to Jupyter answering. Default `120`.
    pub start_timeout_seconds: u64,
    /// Seconds to wait for Jupyter's HTTP endpoint once the container runs. Default `60`.
    pub http_timeout_seconds: u64,
    /// Named servers each user may have besides the default one (0 turns named servers off). Default `3`.
    pub named_servers_limit: u32,
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
    /// Whether admins may open other users' servers through the proxy. Default `false`.
    pub admin_access: bool,
    /// GPUs this machine offers to notebooks (an inventory from config until discovery arrives).
    /// GPU sizes are shown and accepted only when this is at least their GPU count. Default `0`.
    pub gpus: u32,
    /// Servers that may be starting at once; more start requests get 429. Default `100`.
    pub concurrent_spawn_limit: u32,
    /// Servers that may be starting or running at once (0: no limit); more get 429. Default `0`.
    pub active_server_limit: u32,
}

impl Default for SpawnerConfig {
    fn default() -> Self {
        Self {
            docker_host: String::new(),
            start_timeout_seconds: 120,
            http_timeout_seconds: 60,
            named_servers_limit: 3,
            pids_limit: 1024,
            notebook_dir: "/home/jovyan".into(),
            prefix: "ganymede".into(),
            network: "ganymede-servers".into(),
            admin_access: false,
            gpus: 0,
            concurrent_spawn_limit: 100,
            active_server_limit: 0,
        }
    }
}

/// `[[flavours]]`: a notebook image people can pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlavourConfig {
    /// Short id used in URLs and the API, e.g. `scipy`.
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// Container image, e.g. `ganymede/scipy:latest`.
    pub image: String,
    /// An emoji or short text shown on the card.
    #[serde(default)]
    pub icon: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Ids of the sizes this flavour may run with; empty means all.
    #[serde(default)]
    pub sizes: Vec<String>,
}

/// `[[sizes]]`: resources for one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    pub id: String,
    pub display_name: String,
    /// CPU limit in cores (fractions allowed).
    pub cpu: f64,
    /// Memory limit in MiB.
    pub memory_mib: u64,
    /// GPUs given to the container.
    #[serde(default)]
    pub gpus: u32,
}

pub fn default_flavours() -> Vec<FlavourConfig> {
    vec![
        FlavourConfig {
            id: "base".into(),
            display_name: "Base".into(),
            description: "JupyterLab with Python 3.".into(),
            image: "ganymede/base:latest".into(),
            icon: "🪐".into(),
            tags: vec!["python".into()],
            sizes: vec![],
        },
        FlavourConfig {
            id: "scipy".into(),
            display_name: "SciPy".into(),
            description: "numpy, scipy, pandas, matplotlib and scikit-learn.".into(),
            image: "ganymede/scipy:latest".into(),
            icon: "📈".into(),
            tags: vec!["python".into(), "data".into()],
            sizes: vec![],
        },
    ]
}

pub fn default_sizes() -> Vec<SizeConfig> {
    vec![
        SizeConfig {
            id: "small".into(),
            display_name: "Small (1 CPU, 2 GiB)".into(),
            cpu: 1.0,
            memory_mib: 2048,
            gpus: 0,
        },
        SizeConfig {
            id: "medium".into(),
            display_name: "Medium (2 CPU, 4 GiB)".into(),
            cpu: 2.0,
            memory_mib: 4096,
            gpus: 0,
        },
        SizeConfig {
            id: "gpu-1".into(),
            display_name: "1 GPU (4 CPU, 16 GiB)".into(),
            cpu: 4.0,
            memory_mib: 16384,
            gpus: 1,
        },
        SizeConfig {
            id: "gpu-2".into(),
            display_name: "2 GPUs (8 CPU, 32 GiB)".into(),
            cpu: 8.0,
            memory_mib: 32768,
            gpus: 2,
        },
    ]
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl SpawnerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.start_timeout_seconds == 0 {
            return Err(ConfigError::invalid("spawner.start_timeout_seconds", "must be at least 1"));
        }
        if self.http_timeout_seconds == 0 {
            return Err(ConfigError::invalid("spawner.http_timeout_seconds", "must be at least 1"));
        }
        if self.concurrent_spawn_limit == 0 {
            return Err(ConfigError::invalid("spawner.concurrent_spawn_limit", "must be at least 1"));
        }
        if self.pids_limit < 16 {
            return Err(ConfigError::invalid("spawner.pids_limit", "must be at least 16"));
        }
        if !self.notebook_dir.starts_with('/') {
            return Err(ConfigError::invalid("spawner.notebook_dir", "must be an absolute path"));
        }
        if !valid_id(&self.prefix) {
            return Err(ConfigError::invalid(
                "spawner.prefix",
                "use 1-32 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if !valid_network_name(&self.network) {
            return Err(ConfigError::invalid(
                "spawner.network",
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

pub(super) fn validate_catalogue(
    flavours: &[FlavourConfig],
    sizes: &[SizeConfig],
) -> Result<(), ConfigError> {
    if flavours.is_empty() {
        return Err(ConfigError::invalid("flavours", "at least one flavour is needed"));
    }
    if sizes.is_empty() {
        return Err(ConfigError::invalid("sizes", "at least one size is needed"));
    }
    let mut seen = std::collections::HashSet::new();
    for s in sizes {
        if !valid_id(&s.id) {
            return Err(ConfigError::invalid(
                "sizes.id",
                format!("{:?}: use 1-32 characters of a-z, 0-9, '-' and '_'", s.id),
            ));
        }
        if !seen.insert(s.id.as_str()) {
            return Err(ConfigError::invalid("sizes.id", format!("{:?} appears twice", s.id)));
        }
        if !(s.cpu > 0.0 && s.cpu <= 1024.0) {
            return Err(ConfigError::invalid(
                "sizes.cpu",
                format!("size {:?}: must be above 0 and at most 1024", s.id),
            ));
        }
        if s.memory_mib < 64 {
            return Err(ConfigError::invalid(
                "sizes.memory_mib",
                format!("size {:?}: must be at least 64", s.id),
            ));
        }
    }
    let mut seen_f = std::collections::HashSet::new();
    for f in flavours {
        if !valid_id(&f.id) {
            return Err(ConfigError::invalid(
                "flavours.id",
                format!("{:?}: use 1-32 characters of a-z, 0-9, '-' and '_'", f.id),
            ));
        }
        if !seen_f.insert(f.id.as_str()) {
            return Err(ConfigError::invalid("flavours.id", format!("{:?} appears twice", f.id)));
        }
        if f.image.trim().is_empty() {
            return Err(ConfigError::invalid("flavours.image", format!("flavour {:?} needs an image", f.id)));
        }
        if let Some(unknown) = f.sizes.iter().find(|s| !seen.contains(s.as_str())) {
            return Err(ConfigError::invalid(
                "flavours.sizes",
                format!("flavour {:?} names unknown size {unknown:?}", f.id),
            ));
        }
    }
    Ok(())
}
