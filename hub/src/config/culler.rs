//! `[culler]`: the hub's own idle culler. It stops servers nobody has used for `timeout_seconds`
//! (what counts as use: the README's "What counts as activity") and servers older than
//! `max_age_seconds`, warns their owners `warn_seconds` ahead, and may remove culled named
//! servers and idle users. Sizes may have their own timeouts (GPU sizes usually shorter).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CullerConfig {
    /// Whether the hub culls at all. Default `false` (as JupyterHub, which has no culler unless
    /// one is added as a service; PyPI's `jupyterhub-idle-culler` works either way).
    pub enabled: bool,
    /// Seconds without activity after which a server is stopped (0: never for idleness).
    /// Default `3600`.
    pub timeout_seconds: u64,
    /// Seconds after its start at which a server is stopped however busy it is (0: no maximum).
    /// Default `0`.
    pub max_age_seconds: u64,
    /// Seconds ahead of a cull at which its owner is warned (and may keep it running). Never
    /// more than half the timeout that applies. Default `600`.
    pub warn_seconds: u64,
    /// Seconds between the culler's rounds. Default `60`.
    pub every_seconds: u64,
    /// Whether default servers are culled. Default `true`.
    pub default_servers: bool,
    /// Whether named servers are culled. Default `true`.
    pub named_servers: bool,
    /// Whether a culled named server is removed too (its home stays). Default `false`.
    pub remove_named_servers: bool,
    /// Whether users with no server left and no activity for `timeout_seconds` are removed (their
    /// homes stay), as the PyPI culler's `--cull-users`. Default `false`.
    pub cull_users: bool,
    /// Whether `cull_users` removes admins too. Default `false`.
    pub cull_admin_users: bool,
    /// Per-size timeouts, by size id: `[culler.sizes.gpu-large] timeout_seconds = 900`.
    pub sizes: BTreeMap<String, SizeCulling>,
}

/// A size's own timeouts; a field left out is the `[culler]` one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizeCulling {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

impl Default for CullerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            timeout_seconds: 3600,
            max_age_seconds: 0,
            warn_seconds: 600,
            every_seconds: 60,
            default_servers: true,
            named_servers: true,
            remove_named_servers: false,
            cull_users: false,
            cull_admin_users: false,
            sizes: BTreeMap::new(),
        }
    }
}

/// The timeouts that apply to one server, in milliseconds (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CullPolicy {
    pub idle_ms: Option<i64>,
    pub max_age_ms: Option<i64>,
    pub warn_ms: i64,
}

fn millis(seconds: u64) -> Option<i64> {
    (seconds > 0).then(|| i64::try_from(seconds).unwrap_or(i64::MAX / 1000).saturating_mul(1000))
}

impl CullerConfig {
    /// What applies to a server of `size` (named or not), or `None` when it is never culled.
    pub fn policy(&self, size: Option<&str>, named: bool) -> Option<CullPolicy> {
        if !self.enabled || (named && !self.named_servers) || (!named && !self.default_servers) {
            return None;
        }
        let own = size.and_then(|s| self.sizes.get(s));
        let idle_ms = millis(own.and_then(|o| o.timeout_seconds).unwrap_or(self.timeout_seconds));
        let max_age_ms = millis(own.and_then(|o| o.max_age_seconds).unwrap_or(self.max_age_seconds));
        let shortest = match (idle_ms, max_age_ms) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        let warn_ms = millis(self.warn_seconds).unwrap_or(0).min(shortest / 2);
        Some(CullPolicy { idle_ms, max_age_ms, warn_ms })
    }

    pub(super) fn validate(&self, sizes: &[super::SizeConfig]) -> Result<(), ConfigError> {
        if self.every_seconds == 0 {
            return Err(ConfigError::invalid("culler.every_seconds", "must be at least 1"));
        }
        if let Some(unknown) = self.sizes.keys().find(|id| !sizes.iter().any(|s| &s.id == *id)) {
            return Err(ConfigError::invalid("culler.sizes", format!("no size has the id {unknown:?}")));
        }
        if self.enabled && self.cull_users && self.timeout_seconds == 0 {
            return Err(ConfigError::invalid(
                "culler.cull_users",
                "needs a timeout_seconds to tell idle users by",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> CullerConfig {
        CullerConfig { enabled: true, ..CullerConfig::default() }
    }

    #[test]
    fn nothing_is_culled_unless_enabled() {
        assert_eq!(CullerConfig::default().policy(None, false), None);
        let p = on().policy(Some("small"), false).expect("a policy");
        assert_eq!(p, CullPolicy { idle_ms: Some(3_600_000), max_age_ms: None, warn_ms: 600_000 });
    }

    #[test]
    fn a_size_of_its_own_overrides_and_warnings_fit_in_the_shortest_timeout() {
        let mut c = on();
        c.max_age_seconds = 86_400;
        c.sizes.insert("gpu".into(), SizeCulling { timeout_seconds: Some(300), max_age_seconds: Some(0) });
        let p = c.policy(Some("gpu"), true).expect("a policy");
        assert_eq!(p, CullPolicy { idle_ms: Some(300_000), max_age_ms: None, warn_ms: 150_000 });
        assert_eq!(c.policy(Some("small"), true).and_then(|p| p.max_age_ms), Some(86_400_000));
    }

    #[test]
    fn default_and_named_servers_can_each_be_left_alone() {
        let c = CullerConfig { named_servers: false, ..on() };
        assert!(c.policy(None, false).is_some());
        assert!(c.policy(None, true).is_none());
        let c = CullerConfig { default_servers: false, ..on() };
        assert!(c.policy(None, false).is_none());
        let c = CullerConfig { timeout_seconds: 0, ..on() };
        assert!(c.policy(None, false).is_none());
    }
}
