use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[database]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Database URL. Env: `GANYMEDE_DATABASE__URL`. Default: SQLite at `{hub.data_dir}/ganymede.db`.
    /// Only `sqlite:` URLs are supported in this version; PostgreSQL follows.
    pub url: Option<String>,
}

impl DatabaseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            if !url.starts_with("sqlite:") {
                return Err(ConfigError::invalid(
                    "database.url",
                    "only sqlite: URLs are supported in this version (e.g. sqlite:///var/lib/ganymede/ganymede.db)",
                ));
            }
        }
        Ok(())
    }
}
