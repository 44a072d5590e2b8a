use serde::{Deserialize, Serialize, Serializer};

use super::ConfigError;
use crate::db::backend::{self, Backend};

/// `[database]`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Database URL. Env: `GANYMEDE_DATABASE__URL`. Default: SQLite at `{hub.data_dir}/ganymede.db`.
    /// `sqlite://PATH` (the file and its directory are created when missing) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (the database must exist). A password in the
    /// URL is never printed (`config check` and logs show `***`).
    #[serde(serialize_with = "serialize_redacted")]
    pub url: Option<String>,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig").field("url", &self.url.as_deref().map(backend::redact)).finish()
    }
}

fn serialize_redacted<S: Serializer>(url: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&backend::redact(url)),
        None => serializer.serialize_none(),
    }
}

impl DatabaseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url {
            Backend::of_url(url).map_err(|e| ConfigError::invalid("database.url", e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn sqlite_and_postgres_urls_are_accepted() {
        for url in ["sqlite:///var/lib/ganymede/ganymede.db", "sqlite:data/x.db", "postgres://u:p@db/hub"] {
            Config::from_toml_str(&format!("[database]\nurl = \"{url}\"\n")).unwrap();
        }
        Config::from_toml_str("[database]\nurl = \"postgresql://db.example.org/hub\"\n").unwrap();
    }

    #[test]
    fn other_urls_are_refused_naming_the_key_and_scheme() {
        let err =
            Config::from_toml_str("[database]\nurl = \"mysql://u:secret@db/hub\"\n").unwrap_err().to_string();
        assert!(err.contains("database.url"), "{err}");
        assert!(err.contains("mysql"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn the_password_is_never_shown() {
        let c = Config::from_toml_str("[database]\nurl = \"postgres://hub:s3cret@db:5432/hub\"\n").unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        let text = toml::to_string(&c).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("postgres://hub:***@db:5432/hub"), "{text}");
        assert_eq!(c.database_url(), "postgres://hub:s3cret@db:5432/hub");
    }
}
