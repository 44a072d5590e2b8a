//! Whether the spawner's engine answers, watched every few seconds: an outage is noted (with
//! when it began and why, for the dashboard and the metrics), and when the engine answers again
//! the servers are reconciled at once, so those whose workloads died meanwhile (a restarted
//! Docker engine kills its containers) are marked stopped with their reason within seconds.

use std::sync::Mutex;
use std::time::Duration;

use tracing::{info, warn};

use crate::Hub;

/// How long one check waits for the engine.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine has not answered since `since_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub since_ms: i64,
    pub error: String,
}

/// The last check's finding (one per hub process).
#[derive(Default)]
pub struct EngineState {
    outage: Mutex<Option<Outage>>,
}

impl EngineState {
    pub fn outage(&self) -> Option<Outage> {
        self.outage.lock().ok().and_then(|o| o.clone())
    }

    /// Records a finding; returns the outage that just ended, if one did.
    fn record(&self, now_ms: i64, found: Result<(), String>) -> Change {
        let Ok(mut outage) = self.outage.lock() else { return Change::None };
        match (outage.take(), found) {
            (None, Ok(())) => Change::None,
            (Some(ended), Ok(())) => Change::Back(ended),
            (None, Err(error)) => {
                *outage = Some(Outage { since_ms: now_ms, error: error.clone() });
                Change::Down(error)
            }
            (Some(mut ongoing), Err(error)) => {
                ongoing.error = error;
                *outage = Some(ongoing);
                Change::None
            }
        }
    }
}

enum Change {
    None,
    Down(String),
    Back(Outage),
}

/// Whether the configured spawner's engine answers within [`CHECK_TIMEOUT`], and why not (the
/// watcher and the readiness probe both ask this).
pub async fn answers(hub: &Hub) -> Result<(), String> {
    let spawner = hub.spawners().current().map_err(|e| e.to_string())?;
    match tokio::time::timeout(CHECK_TIMEOUT, spawner.ready()).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}

/// One check: asks the configured spawner's engine; on an outage's end, reconciles at once.
pub async fn check(hub: &Hub) {
    match hub.engine().record(hub.clock().now_ms(), answers(hub).await) {
        Change::None => {}
        Change::Down(error) => {
            hub.metrics().engine_unreachable();
            warn!(%error, "the container engine stopped answering; servers are checked again when it is back");
        }
        Change::Back(outage) => {
            let seconds = (hub.clock().now_ms() - outage.since_ms) / 1000;
            info!(down_for_seconds = seconds, "the container engine answers again; checking every server");
            if let Err(e) = super::reconcile(hub).await {
                warn!(error = %e, "reconciling after the engine came back failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_keeps_its_start_and_ends_once() {
        let state = EngineState::default();
        assert!(matches!(state.record(1, Ok(())), Change::None));
        assert!(matches!(state.record(2, Err("refused".into())), Change::Down(_)));
        assert!(matches!(state.record(3, Err("still refused".into())), Change::None));
        assert_eq!(state.outage(), Some(Outage { since_ms: 2, error: "still refused".into() }));
        assert!(matches!(state.record(4, Ok(())), Change::Back(Outage { since_ms: 2, .. })));
        assert_eq!(state.outage(), None);
        assert!(matches!(state.record(5, Ok(())), Change::None));
    }
}
