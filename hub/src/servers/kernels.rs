//! What a plain-JupyterLab server is doing, asked of Jupyter itself (`GET {base}api/kernels` and
//! `api/terminals`, with the server's token): such a server reports nothing to the hub, and what
//! the proxy sees (an open tab polling, a websocket kept alive) is no sign that anyone works.
//!
//! A kernel that is busy is active now; otherwise its `last_activity` (Jupyter moves it on every
//! message the kernel sends: output, results, status) is when it last did something; a terminal's
//! `last_activity` is its last output. The latest of these moves the server's `last_activity`
//! (only forward). Asked every `servers.activity_poll_seconds` by the process holding the
//! reconcile lease, at most [`IN_FLIGHT`] servers at a time, each within [`ASK_TIMEOUT`].

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::domain::{ServerName, UserName};
use crate::spawner::Upstream;
use crate::Hub;

const IN_FLIGHT: usize = 8;
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read (a server with thousands of kernels is not the hub's problem).
const MAX_ANSWER: u64 = 1 << 20;

/// What one server's kernels and terminals say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// A kernel is executing now.
    pub busy: bool,
    /// The latest activity of a kernel or a terminal, in milliseconds.
    pub last: Option<i64>,
}

fn millis(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Reads `api/kernels` and `api/terminals` answers (JSON lists).
pub fn read(kernels: &Value, terminals: &Value) -> Seen {
    let mut seen = Seen::default();
    let entries = kernels.as_array().into_iter().flatten().chain(terminals.as_array().into_iter().flatten());
    for entry in entries {
        if entry["execution_state"].as_str() == Some("busy") {
            seen.busy = true;
        }
        if let Some(at) = entry["last_activity"].as_str().and_then(millis) {
            seen.last = Some(seen.last.map_or(at, |l| l.max(at)));
        }
    }
    seen
}

/// One `GET` of a JSON answer (HTTP/1.0, so the body is whatever follows the head).
async fn get_json(upstream: &Upstream, path: &str, token: &str) -> Option<Value> {
    let addr = upstream.socket_addr();
    let ask = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: token {token}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut answer).await.ok()?;
        let status = std::str::from_utf8(answer.get(9..12)?).ok()?.parse::<u16>().ok()?;
        if status != 200 {
            return None;
        }
        let body = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        serde_json::from_slice(&answer[body..]).ok()
    };
    tokio::time::timeout(ASK_TIMEOUT, ask).await.ok().flatten()
}

/// Asks every plain-JupyterLab server this process routes, when it holds the reconcile lease,
/// and records what their kernels and terminals say. Returns how many servers were active.
pub async fn poll_round(hub: &Hub) -> usize {
    match super::reconcile::holds_lease(hub).await {
        Ok(true) => {}
        Ok(false) => return 0,
        Err(e) => {
            warn!(error = %e, "cannot tell who holds the reconcile lease; kernels not asked");
            return 0;
        }
    }
    // A single-user server has no token of the hub's in its route: it reports its own activity.
    let asked: Vec<_> = hub
        .routes()
        .all()
        .into_iter()
        .filter_map(|(user, server, route)| {
            let (user, server) = (UserName::parse(&user).ok()?, ServerName::parse(&server).ok()?);
            Some((user, server, route.server_id, route.upstream, route.token?))
        })
        .collect();
    let now = hub.clock().now_ms();
    let answers: Vec<(i64, Option<i64>)> = futures_util::stream::iter(asked)
        .map(|(user, server, server_id, upstream, token)| async move {
            let base = super::base_url(&user, &server);
            let kernels = get_json(&upstream, &format!("{base}api/kernels"), &token).await;
            let terminals = get_json(&upstream, &format!("{base}api/terminals"), &token).await;
            let seen = match (kernels, terminals) {
                (None, None) => return (server_id, None),
                (k, t) => read(&k.unwrap_or(Value::Null), &t.unwrap_or(Value::Null)),
            };
            debug!(user.name = %user, server.name = %server, busy = seen.busy, last = ?seen.last, "asked the kernels");
            (server_id, if seen.busy { Some(now) } else { seen.last })
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let active: Vec<(i64, i64)> = answers.into_iter().filter_map(|(id, at)| Some((id, at?))).collect();
    if active.is_empty() {
        return 0;
    }
    let written = async {
        let mut conn = hub.db().acquire().await?;
        for (server_id, at) in &active {
            crate::db::servers::record_activity(&mut conn, *server_id, (*at).min(now)).await?;
        }
        Ok::<_, sqlx::Error>(())
    };
    if let Err(e) = written.await {
        warn!(error = %e, "recording the kernels' activity failed");
    }
    active.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_busy_kernel_is_active_now_and_otherwise_the_latest_kernel_or_terminal_counts() {
        let kernels = json!([
            { "id": "a", "execution_state": "idle", "last_activity": "2026-12-04T10:00:00.000000Z" },
            { "id": "b", "execution_state": "idle", "last_activity": "2026-12-04T10:05:00Z" },
        ]);
        let terminals = json!([{ "name": "1", "last_activity": "2026-12-04T10:07:30+00:00" }]);
        let seen = read(&kernels, &terminals);
        assert!(!seen.busy);
        assert_eq!(seen.last, millis("2026-12-04T10:07:30Z"));
        let busy = json!([{ "id": "c", "execution_state": "busy", "last_activity": "2026-12-04T09:00:00Z" }]);
        assert!(read(&busy, &Value::Null).busy);
    }

    #[test]
    fn no_kernels_and_no_terminals_say_nothing() {
        assert_eq!(read(&json!([]), &json!([])), Seen::default());
        assert_eq!(read(&json!({ "message": "Forbidden" }), &Value::Null), Seen::default());
        assert_eq!(read(&json!([{ "last_activity": "yesterday" }]), &Value::Null), Seen::default());
    }
}
