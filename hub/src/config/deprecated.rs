//! Keys a release renamed or retired. An old key keeps working for at least one release: loading
//! moves its value to the new key and says so ([`Deprecation`]); the hub logs a warning naming the
//! new key, and `ganymede config check` lists them. Add a row here whenever a key moves.

use std::fmt;

use figment::value::{Dict, Value};
use figment::Figment;

/// What became of an old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Its value now lives under this key.
    Renamed(&'static str),
    /// It has no effect any more; the text says what replaced it.
    Retired(&'static str),
}

struct Old {
    key: &'static str,
    fate: Fate,
}

const OLD_KEYS: &[Old] = &[
    // 0.1, `[spawner]` split into `[servers]` (the lifecycle's policy) and `[spawner.docker]`.
    Old { key: "spawner.docker_host", fate: Fate::Renamed("spawner.docker.host") },
    Old { key: "spawner.pids_limit", fate: Fate::Renamed("spawner.docker.pids_limit") },
    Old { key: "spawner.notebook_dir", fate: Fate::Renamed("spawner.docker.notebook_dir") },
    Old { key: "spawner.prefix", fate: Fate::Renamed("spawner.docker.prefix") },
    Old { key: "spawner.network", fate: Fate::Renamed("spawner.docker.network") },
    Old { key: "spawner.start_timeout_seconds", fate: Fate::Renamed("servers.start_timeout_seconds") },
    Old { key: "spawner.http_timeout_seconds", fate: Fate::Renamed("servers.http_timeout_seconds") },
    Old { key: "spawner.named_servers_limit", fate: Fate::Renamed("servers.named_servers_limit") },
    Old { key: "spawner.admin_access", fate: Fate::Renamed("servers.admin_access") },
    Old { key: "spawner.concurrent_spawn_limit", fate: Fate::Renamed("servers.concurrent_spawn_limit") },
    Old { key: "spawner.active_server_limit", fate: Fate::Renamed("servers.active_server_limit") },
    // 0.1, GPUs are discovered (NVML, `nvidia-smi`) or listed, no longer counted by hand.
    Old {
        key: "spawner.gpus",
        fate: Fate::Retired("GPUs are discovered (servers.gpu_discovery) or listed in [[gpus]]"),
    },
    Old {
        key: "servers.gpus",
        fate: Fate::Retired("GPUs are discovered (servers.gpu_discovery) or listed in [[gpus]]"),
    },
];

/// One old key found in one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    pub key: &'static str,
    pub fate: Fate,
    /// Where it was set: the file's path, or the environment variable's name.
    pub source: String,
    /// The new key was set in the same source too, so the old one's value was dropped.
    pub shadowed: bool,
}

impl fmt::Display for Deprecation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fate {
            Fate::Renamed(new) if self.shadowed => write!(
                f,
                "`{}` ({}) is deprecated and ignored: `{new}` is set too; remove the old key",
                self.key, self.source
            ),
            Fate::Renamed(new) => write!(
                f,
                "`{}` ({}) is deprecated: use `{new}`{}; the old key will stop working in a later release",
                self.key,
                self.source,
                env_hint(&self.source, new)
            ),
            Fate::Retired(why) => {
                write!(f, "`{}` ({}) no longer has any effect and is ignored: {why}", self.key, self.source)
            }
        }
    }
}

/// For a variable, the new variable's name.
fn env_hint(source: &str, new: &str) -> String {
    if source.starts_with(super::ENV_PREFIX) {
        format!(" ({}{})", super::ENV_PREFIX, new.to_uppercase().replace('.', "__"))
    } else {
        String::new()
    }
}

/// Whether a source sets any old key (only then is it rewritten, so ordinary loads keep
/// figment's error messages, which name the file).
pub(super) fn present(layer: &Figment) -> bool {
    OLD_KEYS.iter().any(|old| layer.contains(old.key))
}

/// Moves the old keys of one source's values to their new places (or drops retired ones), noting
/// each. `source` names the file, or is `None` for the environment (each note then names its variable).
pub(super) fn rewrite(values: &mut Dict, source: Option<&str>, notes: &mut Vec<Deprecation>) {
    for old in OLD_KEYS {
        let Some(value) = take(values, old.key) else { continue };
        let source = match source {
            Some(file) => file.to_owned(),
            None => format!("{}{}", super::ENV_PREFIX, old.key.to_uppercase().replace('.', "__")),
        };
        let shadowed = match old.fate {
            Fate::Renamed(new) => !put_if_absent(values, new, value),
            Fate::Retired(_) => false,
        };
        notes.push(Deprecation { key: old.key, fate: old.fate, source, shadowed });
    }
}

fn take(values: &mut Dict, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => values.remove(path),
        Some((head, rest)) => match values.get_mut(head) {
            Some(Value::Dict(_, inner)) => take(inner, rest),
            _ => None,
        },
    }
}

/// Sets `path` unless it is set already; `false` when it was.
fn put_if_absent(values: &mut Dict, path: &str, value: Value) -> bool {
    match path.split_once('.') {
        None => {
            if values.contains_key(path) {
                return false;
            }
            values.insert(path.to_owned(), value);
            true
        }
        Some((head, rest)) => {
            let entry = values.entry(head.to_owned()).or_insert_with(|| Value::from(Dict::new()));
            match entry {
                Value::Dict(_, inner) => put_if_absent(inner, rest, value),
                // `head` holds a plain value where a table belongs: leave it for the parser to name.
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use figment::providers::Format;

    #[test]
    fn every_new_key_exists_in_the_current_config() {
        let current = Figment::from(figment::providers::Serialized::defaults(Config::default()));
        for old in OLD_KEYS {
            assert!(!current.contains(old.key), "{} is still a key", old.key);
            if let Fate::Renamed(new) = old.fate {
                assert!(current.contains(new), "{new} is not a key");
            }
        }
    }

    #[test]
    fn an_old_key_moves_and_is_noted() {
        let config =
            Config::from_toml_str("[spawner]\nprefix = \"old-hub\"\nnamed_servers_limit = 7\n").unwrap();
        assert_eq!(config.spawner.docker.prefix, "old-hub");
        assert_eq!(config.servers.named_servers_limit, 7);
    }

    #[test]
    fn the_new_key_wins_in_the_same_source() {
        let mut values = Dict::new();
        let mut notes = Vec::new();
        let text = "[spawner]\nprefix = \"old\"\n[spawner.docker]\nprefix = \"new\"\n";
        let layer = Figment::from(figment::providers::Toml::string(text));
        values.extend(layer.extract::<Dict>().unwrap());
        rewrite(&mut values, Some("ganymede.toml"), &mut notes);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].shadowed);
        assert!(notes[0].to_string().contains("ignored"), "{}", notes[0]);
        let back = Figment::from(figment::providers::Serialized::defaults(values));
        assert_eq!(back.extract_inner::<String>("spawner.docker.prefix").unwrap(), "new");
        assert!(!back.contains("spawner.prefix"));
    }

    #[test]
    fn a_variable_is_named_with_its_new_name() {
        let note = Deprecation {
            key: "spawner.prefix",
            fate: Fate::Renamed("spawner.docker.prefix"),
            source: "GANYMEDE_SPAWNER__PREFIX".into(),
            shadowed: false,
        };
        let text = note.to_string();
        assert!(text.contains("GANYMEDE_SPAWNER__DOCKER__PREFIX"), "{text}");
        assert!(text.contains("use `spawner.docker.prefix`"), "{text}");
    }
}
