//! `[servers]`: the lifecycle's policy, whatever spawner runs the servers.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServersConfig {
    /// Seconds a server may take from "start" to Jupyter answering. Default `120`.
    pub start_timeout_seconds: u64,
    /// Seconds to wait for Jupyter's HTTP endpoint once the workload runs. Default `60`.
    pub http_timeout_seconds: u64,
    /// Named servers each user may have besides the default one (0 turns named servers off). Default `3`.
    pub named_servers_limit: u32,
    /// Whether admins may open other users' servers through the proxy. Default `false`.
    pub admin_access: bool,
    /// Where the GPU inventory comes from: `auto` (NVML, else `nvidia-smi`, else `[[gpus]]`),
    /// `nvml`, `nvidia-smi`, `static` (`[[gpus]]`) or `none`. Default `auto`.
    pub gpu_discovery: super::GpuDiscovery,
    /// Seconds between refreshes of a discovered inventory (a GPU that vanished or reports
    /// errors leaves the pool). Default `60`.
    pub gpu_refresh_seconds: u64,
    /// Servers that may be starting at once; more start requests get 429. Default `100`.
    pub concurrent_spawn_limit: u32,
    /// Servers that may be starting or running at once (0: no limit); more get 429. Default `0`.
    pub active_server_limit: u32,
    /// Seconds between attempts to stop a server whose stop the engine refused. Default `30`.
    pub stop_retry_seconds: u64,
    /// Seconds between the hub's questions to plain-JupyterLab servers about their kernels and
    /// terminals (what counts as their activity), and the interval single-user servers are told
    /// to report theirs at (`JUPYTERHUB_ACTIVITY_INTERVAL`). Keep it well below any idle
    /// timeout. Default `60`.
    pub activity_poll_seconds: u64,
}

impl Default for ServersConfig {
    fn default() -> Self {
        Self {
            start_timeout_seconds: 120,
            http_timeout_seconds: 60,
            named_servers_limit: 3,
            admin_access: false,
            gpu_discovery: super::GpuDiscovery::Auto,
            gpu_refresh_seconds: 60,
            concurrent_spawn_limit: 100,
            active_server_limit: 0,
            stop_retry_seconds: 30,
            activity_poll_seconds: 60,
        }
    }
}

impl ServersConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.start_timeout_seconds == 0 {
            return Err(ConfigError::invalid("servers.start_timeout_seconds", "must be at least 1"));
        }
        if self.http_timeout_seconds == 0 {
            return Err(ConfigError::invalid("servers.http_timeout_seconds", "must be at least 1"));
        }
        if self.concurrent_spawn_limit == 0 {
            return Err(ConfigError::invalid("servers.concurrent_spawn_limit", "must be at least 1"));
        }
        if self.gpu_refresh_seconds == 0 {
            return Err(ConfigError::invalid("servers.gpu_refresh_seconds", "must be at least 1"));
        }
        if self.stop_retry_seconds == 0 {
            return Err(ConfigError::invalid("servers.stop_retry_seconds", "must be at least 1"));
        }
        if self.activity_poll_seconds == 0 {
            return Err(ConfigError::invalid("servers.activity_poll_seconds", "must be at least 1"));
        }
        Ok(())
    }
}
