//! `[[gpus]]` (a static GPU inventory) and how the inventory is found.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Where the hub reads its GPUs from. `auto`: NVML, else `nvidia-smi`, else `[[gpus]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuDiscovery {
    #[default]
    Auto,
    Nvml,
    NvidiaSmi,
    Static,
    /// No GPUs, whatever the machine has.
    None,
}

/// One `[[gpus]]` entry: a GPU (or a MIG instance) of a host where neither NVML nor `nvidia-smi`
/// can be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticGpu {
    /// The device's UUID as the NVIDIA runtime knows it (`GPU-…`, or `MIG-…` for a MIG instance).
    pub uuid: String,
    /// The model, e.g. `NVIDIA A100-SXM4-80GB`.
    pub model: String,
    /// Its memory in MiB.
    pub memory_mib: u64,
    /// For a MIG instance: its profile, e.g. `1g.10gb`.
    #[serde(default)]
    pub mig_profile: Option<String>,
}

pub(super) fn validate(gpus: &[StaticGpu]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for (i, gpu) in gpus.iter().enumerate() {
        let bad =
            |field: &str, why: &str| ConfigError::invalid("gpus", format!("entry {} ({field}) {why}", i + 1));
        let uuid = gpu.uuid.trim();
        if uuid.is_empty()
            || uuid.len() > 96
            || !uuid.chars().all(|c| c.is_ascii_alphanumeric() || "-_/".contains(c))
        {
            return Err(bad("uuid", "must be a device UUID such as GPU-… or MIG-…"));
        }
        if !seen.insert(uuid.to_owned()) {
            return Err(bad("uuid", "is listed twice"));
        }
        if gpu.model.trim().is_empty() {
            return Err(bad("model", "must not be empty"));
        }
        if gpu.memory_mib == 0 {
            return Err(bad("memory_mib", "must be at least 1"));
        }
    }
    Ok(())
}
