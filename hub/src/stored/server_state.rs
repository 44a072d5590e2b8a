//! The states of a server, the only place that spells them. Rows are parsed into [`ServerState`]
//! where they are read (`db::servers`); pages and the API see the same enum (it serialises as the
//! lower-case word).
//!
//! ```text
//!            start                 ready                stop
//! stopped ─────────▶ pending ─────────────▶ running ─────────▶ stopping ──▶ stopped
//!    ▲                 │  failed / interrupted  │ died              │ engine refused:
//!    └─────────────────┴────────────────────────┘                   └─ stays, retried
//! ```
//! `queued` (waiting for resources such as GPUs) sits between `stopped` and `pending`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerState {
    /// No workload; nothing is claimed.
    Stopped,
    /// Waiting for resources to start (a later issue's GPU queue).
    Queued,
    /// A start is under way: the workload is recorded and may exist.
    Pending,
    /// Jupyter answered; the proxy routes to it.
    Running,
    /// A stop is under way, or the engine refused one (then `last_error` says why and it is retried).
    Stopping,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a server state")]
pub struct UnknownState(pub String);

impl ServerState {
    pub const ALL: [ServerState; 5] =
        [Self::Stopped, Self::Queued, Self::Pending, Self::Running, Self::Stopping];

    /// The word stored in `servers.status`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownState> {
        Self::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| UnknownState(s.to_owned()))
    }

    /// Whether a workload may exist (one is swept as an orphan only when no row in these states
    /// owns it).
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Running | Self::Stopping)
    }

    /// Starting or running: what the active-server limit counts and "stop all" stops.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Pending | Self::Running)
    }

    /// The states [`ServerState::is_active`] holds for.
    pub fn active() -> impl Iterator<Item = ServerState> {
        Self::ALL.into_iter().filter(|s| s.is_active())
    }
}

impl std::fmt::Display for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ServerState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_word_and_json() {
        for state in ServerState::ALL {
            assert_eq!(ServerState::parse(state.as_str()), Ok(state));
            let json = serde_json::to_string(&state).expect("serialises");
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<ServerState>(&json).expect("parses"), state);
        }
    }

    #[test]
    fn an_unknown_word_is_an_error_naming_it() {
        assert_eq!(ServerState::parse("Running"), Err(UnknownState("Running".into())));
        assert_eq!(ServerState::parse("").unwrap_err().to_string(), "\"\" is not a server state");
    }
}
