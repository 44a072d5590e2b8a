//! `[gpu_limits]`: GPU quotas for everyone (`default`), per group and per user, and how the hub
//! enforces them (warnings ahead of a stop, extensions, idle reclaim). Admins may override a
//! group's or a user's entry on the admin page; the database holds those overrides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// One subject's limits. A field left out falls back: a user's own entry, else the most generous
/// of their groups' entries, else `default`; left out everywhere, there is no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpuLimits {
    /// GPUs (units) held at once, over all the person's servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus_at_once: Option<u32>,
    /// Servers holding GPUs at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_servers_at_once: Option<u32>,
    /// GPU-hours per rolling window of `window_days` (a MIG instance counts its fraction of a GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_hours: Option<f64>,
    /// The rolling window `gpu_hours` counts over, in days. Default 7.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    /// Hours a GPU session may last; the server is stopped then, with warnings ahead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_session_hours: Option<f64>,
}

impl GpuLimits {
    /// Checks the figures (`key` names where they came from in errors).
    pub fn validate(&self, key: &'static str) -> Result<(), ConfigError> {
        for (field, hours) in [("gpu_hours", self.gpu_hours), ("max_session_hours", self.max_session_hours)] {
            if let Some(h) = hours {
                if !h.is_finite() || !(0.0..=1_000_000.0).contains(&h) {
                    return Err(ConfigError::invalid(key, format!("{field} must be a number of hours ≥ 0")));
                }
            }
        }
        if self.max_session_hours == Some(0.0) {
            return Err(ConfigError::invalid(key, "max_session_hours must be more than 0"));
        }
        if let Some(days) = self.window_days {
            if days == 0 || days > 366 {
                return Err(ConfigError::invalid(key, "window_days must be from 1 to 366"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpuLimitsConfig {
    /// Everyone's limits.
    pub default: GpuLimits,
    /// Per group (by name).
    pub groups: BTreeMap<String, GpuLimits>,
    /// Per user (by name).
    pub users: BTreeMap<String, GpuLimits>,
    /// Minutes before a limit stops a server that its owner is warned. Default `15`.
    pub warn_minutes: u64,
    /// Minutes one extension adds to a session (possible while nobody waits for a GPU). Default `60`.
    pub extend_minutes: u64,
    /// Minutes a GPU server's GPUs may stay idle (no compute process, ~0 % utilization) before it is
    /// stopped and its GPUs return to the pool (0: never). Needs NVML or `nvidia-smi` readings.
    /// Default `0`.
    pub gpu_idle_timeout_minutes: u64,
    /// Utilization (percent) at or below which a GPU counts as idle. Default `2`.
    pub idle_utilization_percent: u32,
}

impl Default for GpuLimitsConfig {
    fn default() -> Self {
        Self {
            default: GpuLimits::default(),
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
            warn_minutes: 15,
            extend_minutes: 60,
            gpu_idle_timeout_minutes: 0,
            idle_utilization_percent: 2,
        }
    }
}

impl GpuLimitsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.default.validate("gpu_limits.default")?;
        for limits in self.groups.values() {
            limits.validate("gpu_limits.groups")?;
        }
        for limits in self.users.values() {
            limits.validate("gpu_limits.users")?;
        }
        if self.extend_minutes == 0 {
            return Err(ConfigError::invalid("gpu_limits.extend_minutes", "must be at least 1"));
        }
        if self.idle_utilization_percent > 100 {
            return Err(ConfigError::invalid("gpu_limits.idle_utilization_percent", "must be 0 to 100"));
        }
        Ok(())
    }
}
