//! The serialisable twin of `hub::servers::ServerState` for the pages (the WASM bundle does not
//! link `hub`). The words are the hub's; `ssr` converts one into the other.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerPhase {
    Stopped,
    Queued,
    Pending,
    Running,
    Stopping,
}

impl ServerPhase {
    /// The word shown on the page (and its CSS class).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
        }
    }

    /// Starting or stopping: the page keeps refreshing.
    pub const fn is_transitional(self) -> bool {
        matches!(self, Self::Queued | Self::Pending | Self::Stopping)
    }
}

impl std::fmt::Display for ServerPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "ssr")]
impl From<hub::servers::ServerState> for ServerPhase {
    fn from(state: hub::servers::ServerState) -> Self {
        use hub::servers::ServerState as S;
        match state {
            S::Stopped => Self::Stopped,
            S::Queued => Self::Queued,
            S::Pending => Self::Pending,
            S::Running => Self::Running,
            S::Stopping => Self::Stopping,
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn every_hub_state_has_the_same_word() {
        for state in hub::servers::ServerState::ALL {
            assert_eq!(ServerPhase::from(state).as_str(), state.as_str());
            assert_eq!(serde_json::to_value(ServerPhase::from(state)).ok(), serde_json::to_value(state).ok());
        }
    }
}
