//! `[log]`: how the hub writes its log (to standard output). `RUST_LOG` still filters it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default: one readable line per event) or `json` (one JSON object per line, with
    /// the span fields such as `user.name` and `server.name`, for log shippers).
    /// Env: `GANYMEDE_LOG__FORMAT`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
