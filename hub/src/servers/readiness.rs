//! Waiting for Jupyter to answer: a plain HTTP/1.1 request over TCP, no client library needed.
//! Shared by every spawner: a spawner returns once its workload runs, the hub waits here.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::spawner::Upstream;

/// One `GET {base_url}api/status` with the token; true on a 200 answer.
pub async fn jupyter_answers(upstream: &Upstream, base_url: &str, token: &str) -> bool {
    let addr = upstream.socket_addr();
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!(
            "GET {base_url}api/status HTTP/1.1\r\nHost: {addr}\r\nAuthorization: token {token}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 16];
        let n = stream.read(&mut head).await.ok()?;
        Some(head[..n].starts_with(b"HTTP/1.1 200"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(5), attempt).await, Ok(Some(true)))
}
