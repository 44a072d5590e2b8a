//! Progress of server starts, kept per server so a page that subscribes late still sees every step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// One event on `/hub/api/users/{name}/servers/{server}/progress`, shaped as JupyterHub sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressEvent {
    pub progress: u8,
    pub message: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// While the server waits for a GPU: its place in the queue (1 = next).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
}

impl ProgressEvent {
    /// A step of the start, `progress` percent of the way.
    pub fn step(progress: u8, message: impl Into<String>) -> Self {
        Self {
            progress,
            message: message.into(),
            ready: false,
            failed: false,
            url: None,
            queue_position: None,
        }
    }

    /// Waiting for a GPU at `position` in the queue (1 = next).
    pub fn queued(position: usize, message: impl Into<String>) -> Self {
        Self { queue_position: Some(position), ..Self::step(0, message) }
    }

    /// The last event of a start that worked: the server answers at `url`.
    pub fn ready(url: impl Into<String>) -> Self {
        Self { ready: true, url: Some(url.into()), ..Self::step(100, "Server ready") }
    }

    /// The last event of a start that did not.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { failed: true, ..Self::step(100, message) }
    }

    pub fn is_final(&self) -> bool {
        self.ready || self.failed
    }
}

struct Log {
    events: Vec<ProgressEvent>,
    tx: broadcast::Sender<ProgressEvent>,
}

impl Log {
    fn new() -> Self {
        Log { events: Vec::new(), tx: broadcast::channel(64).0 }
    }
}

/// Per-server progress logs, keyed by server id.
#[derive(Default, Clone)]
pub struct ProgressHub {
    logs: Arc<Mutex<HashMap<i64, Log>>>,
}

impl ProgressHub {
    /// Starts a fresh log for a server that is starting.
    pub fn begin(&self, server_id: i64) {
        if let Ok(mut logs) = self.logs.lock() {
            logs.insert(server_id, Log::new());
        }
    }

    /// Starts a log for the server unless it has one (a queued server keeps its log until its
    /// start ends).
    pub fn ensure(&self, server_id: i64) {
        if let Ok(mut logs) = self.logs.lock() {
            logs.entry(server_id).or_insert_with(Log::new);
        }
    }

    pub fn publish(&self, server_id: i64, event: ProgressEvent) {
        if let Ok(mut logs) = self.logs.lock() {
            if let Some(log) = logs.get_mut(&server_id) {
                log.events.push(event.clone());
                let _ = log.tx.send(event);
            }
        }
    }

    /// Everything so far, and a receiver for what comes next; `None` when nothing is known.
    pub fn subscribe(
        &self,
        server_id: i64,
    ) -> Option<(Vec<ProgressEvent>, broadcast::Receiver<ProgressEvent>)> {
        let logs = self.logs.lock().ok()?;
        let log = logs.get(&server_id)?;
        Some((log.events.clone(), log.tx.subscribe()))
    }
}
