//! Waiting for Jupyter to answer: a plain HTTP/1.1 request over TCP, no client library needed.
//! Shared by every spawner: a spawner returns once its workload runs, the hub waits here.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::FlavourKind;
use crate::spawner::Upstream;

/// Plain JupyterLab: one `GET {base_url}api/status` with the token, true on a 200 answer (the
/// token works). A single-user server: `GET {base_url}api`, any answer below 500, as JupyterHub
/// probes it (its authentication goes through the hub, not through a token the hub injects).
pub async fn jupyter_answers(upstream: &Upstream, base_url: &str, token: &str, kind: FlavourKind) -> bool {
    let addr = upstream.socket_addr();
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = match kind {
            FlavourKind::Jupyterlab => format!(
                "GET {base_url}api/status HTTP/1.1\r\nHost: {addr}\r\nAuthorization: token {token}\r\nConnection: close\r\n\r\n"
            ),
            FlavourKind::JupyterhubSingleuser => {
                format!("GET {base_url}api HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            }
        };
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 16];
        let n = stream.read(&mut head).await.ok()?;
        let status = std::str::from_utf8(head[..n].get(9..12)?).ok()?.parse::<u16>().ok()?;
        Some(match kind {
            FlavourKind::Jupyterlab => status == 200,
            FlavourKind::JupyterhubSingleuser => (100..500).contains(&status),
        })
    };
    matches!(tokio::time::timeout(Duration::from_secs(5), attempt).await, Ok(Some(true)))
}
