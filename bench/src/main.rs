//! `ganymede-bench`: measurements in one run against a baseline, reported as ratios.
//!
//! - `proxy`: Jupyter directly (with its token) and the same Jupyter through Ganymede's proxy (with
//!   a session cookie): small GET requests/s and latency p50/p99 at 1 and 10 connections, MB/s of
//!   1 MiB and 10 MiB downloads, the latency distribution of sequential 1 MiB GETs (p50, p99, max),
//!   and the round trip of kernel `execute_request`s over the websocket.
//! - `websockets`: the hub's resident memory idle, with N idle websockets open through the proxy
//!   (and the cost of each), and after closing them.
//! - `users-api`: `GET /hub/api/users` pages, searches and single users on hubs holding the same
//!   users (Ganymede, and JupyterHub as the baseline when given): requests/s and p50/p99.

mod users_api;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(about = "Ganymede's benchmarks")]
enum Cli {
    /// Ganymede's proxy against the direct connection to the same Jupyter server.
    Proxy(Args),
    /// `GET /hub/api/users` on hubs holding the same users.
    UsersApi(users_api::Args),
    /// Resident memory of the hub with idle proxied websockets.
    Websockets(WsArgs),
}

#[derive(clap::Args, Debug)]
struct WsArgs {
    /// The hub, e.g. http://127.0.0.1:8000
    #[arg(long)]
    proxy: String,
    /// The hub's session cookie value.
    #[arg(long)]
    session: String,
    /// User whose server is used.
    #[arg(long, default_value = "bench")]
    user: String,
    /// The hub's process id (its resident memory is read from /proc).
    #[arg(long)]
    hub_pid: u32,
    /// Idle websockets to open.
    #[arg(long, default_value_t = 100)]
    count: usize,
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Jupyter directly, e.g. http://127.0.0.1:32768
    #[arg(long)]
    direct: String,
    /// The hub, e.g. http://127.0.0.1:8000
    #[arg(long)]
    proxy: String,
    /// Jupyter's token (for the direct target).
    #[arg(long)]
    token: String,
    /// The hub's session cookie value (for the proxy target).
    #[arg(long)]
    session: String,
    /// User whose server is measured.
    #[arg(long, default_value = "bench")]
    user: String,
    /// Seconds per request-rate measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Kernel round trips to time.
    #[arg(long, default_value_t = 200)]
    round_trips: usize,
    /// Sequential 1 MiB GETs whose latency distribution is reported.
    #[arg(long, default_value_t = 200)]
    sequential: usize,
}

#[derive(Clone)]
struct Target {
    name: String,
    base: String,
    header: (&'static str, String),
}

struct Rate {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(c)
}

async fn get(client: &Client<HttpConnector, Empty<Bytes>>, t: &Target, path: &str) -> anyhow::Result<usize> {
    let request = hyper::Request::get(format!("{}{}", t.base, path))
        .header(t.header.0, &t.header.1)
        .body(Empty::new())?;
    let response = client.request(request).await?;
    if !response.status().is_success() {
        bail!("{} {} answered {}", t.name, path, response.status());
    }
    let mut body = response.into_body();
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len();
        }
    }
    Ok(n)
}

/// `connections` loops, each on its own keep-alive connection, for `seconds`, requesting `paths`
/// in turn.
async fn rate(t: &Target, paths: &[String], connections: usize, seconds: u64) -> anyhow::Result<Rate> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for task in 0..connections {
        let t = t.clone();
        let paths = paths.to_vec();
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut latencies = Vec::new();
            let mut i = task;
            while Instant::now() < deadline {
                let start = Instant::now();
                get(&c, &t, &paths[i % paths.len()]).await?;
                i += 1;
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_by(f64::total_cmp);
    Ok(Rate {
        rps: all.len() as f64 / seconds as f64,
        p50_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
    })
}

async fn download(t: &Target, path: &str) -> anyhow::Result<f64> {
    let c = client();
    get(&c, t, path).await?; // warm
    let mut speeds = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let n = get(&c, t, path).await?;
        speeds.push(n as f64 / 1e6 / start.elapsed().as_secs_f64());
    }
    speeds.sort_by(f64::total_cmp);
    Ok(percentile(&speeds, 0.5))
}

/// `n` sequential GETs of `path` on one keep-alive connection: each one's time in ms, sorted.
async fn sequential(t: &Target, path: &str, n: usize) -> anyhow::Result<Vec<f64>> {
    let c = client();
    get(&c, t, path).await?; // warm
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        get(&c, t, path).await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS in /proc/PID/status")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// Opens `count` websockets to a kernel's channels through the proxy, leaves them idle, closes
/// them, and reports the hub's resident memory at each step.
async fn websockets(args: WsArgs) -> anyhow::Result<()> {
    let settle = || tokio::time::sleep(Duration::from_secs(3));
    let host = args.proxy.trim_start_matches("http://").to_owned();
    let cookie = format!("ganymede-session={}", args.session);
    let c =
        Client::builder(TokioExecutor::new()).build::<_, http_body_util::Full<Bytes>>(HttpConnector::new());
    let request = hyper::Request::post(format!("{}/user/{}/api/kernels", args.proxy, args.user))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(b"{}")))?;
    let body = c.request(request).await?.into_body().collect().await?.to_bytes();
    let kernel: serde_json::Value = serde_json::from_slice(&body).context("kernel start answer")?;
    let id = kernel["id"].as_str().context("kernel id")?.to_owned();
    let path = format!("/user/{}/api/kernels/{id}/channels", args.user);
    let open = |session: usize| {
        let mut request = format!("ws://{host}{path}?session_id=bench-{session}").into_client_request();
        if let Ok(r) = request.as_mut() {
            if let (Ok(cookie), Ok(origin)) = (cookie.parse(), format!("http://{host}").parse()) {
                r.headers_mut().insert("cookie", cookie);
                r.headers_mut().insert("origin", origin);
            }
        }
        async move { anyhow::Ok(tokio_tungstenite::connect_async(request?).await?.0) }
    };
    // One round first, so one-time allocations (pools, TLS of tasks) are not counted.
    for ws in futures_util::future::try_join_all((0..5).map(open)).await? {
        drop(ws);
    }
    settle().await;
    let idle = rss_kib(args.hub_pid)?;
    let mut sockets = Vec::with_capacity(args.count);
    for i in 0..args.count {
        sockets.push(open(i).await?);
    }
    settle().await;
    let loaded = rss_kib(args.hub_pid)?;
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    settle().await;
    let after = rss_kib(args.hub_pid)?;
    let per = (loaded.saturating_sub(idle)) as f64 / args.count as f64;
    println!("| measurement | value |");
    println!("|---|---:|");
    println!("| hub RSS idle | {:.1} MiB |", idle as f64 / 1024.0);
    println!("| hub RSS with {} idle websockets | {:.1} MiB |", args.count, loaded as f64 / 1024.0);
    println!("| per idle websocket | {per:.1} KiB |");
    println!(
        "| hub RSS after closing them | {:.1} MiB ({:+.1} MiB from idle) |",
        after as f64 / 1024.0,
        (after as f64 - idle as f64) / 1024.0
    );
    let delete = hyper::Request::delete(format!("{}/user/{}/api/kernels/{id}", args.proxy, args.user))
        .header("cookie", &cookie)
        .body(http_body_util::Full::new(Bytes::new()))?;
    let _ = c.request(delete).await;
    Ok(())
}

/// A TCP stream that keeps ACKs immediate, as a well-behaved interactive client does.
struct QuickAck(tokio::net::TcpStream);
impl QuickAck {
    fn arm(&self) {
        let one: libc::c_int = 1;
        // SAFETY: valid fd, pointer to a live c_int.
        unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let p = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if p.is_ready() {
            self.arm();
        }
        p
    }
}
impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let p = std::pin::Pin::new(&mut self.0).poll_write(cx, buf);
        if p.is_ready() {
            self.arm();
        }
        p
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Median and p99 of `execute_request` → `execute_reply` over the kernel websocket.
async fn kernel_round_trip(t: &Target, user: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    let c = Client::builder(TokioExecutor::new()).build::<_, http_body_util::Full<Bytes>>({
        let mut h = HttpConnector::new();
        h.set_nodelay(true);
        h
    });
    let request = hyper::Request::post(format!("{}/user/{user}/api/kernels", t.base))
        .header(t.header.0, &t.header.1)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from_static(b"{}")))?;
    let response = c.request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    let kernel: serde_json::Value = serde_json::from_slice(&body).context("kernel start answer")?;
    let id = kernel["id"].as_str().context("kernel id")?.to_owned();

    let host = t.base.trim_start_matches("http://").to_owned();
    let mut request = format!("ws://{host}/user/{user}/api/kernels/{id}/channels").into_client_request()?;
    request.headers_mut().insert(t.header.0, t.header.1.parse()?);
    request.headers_mut().insert("origin", format!("http://{host}").parse()?);
    let tcp = tokio::net::TcpStream::connect(&host).await?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async(request, QuickAck(tcp)).await?;
    let mut times = Vec::new();
    for i in 0..n + 5 {
        let msg_id = format!("bench-{i}");
        let message = serde_json::json!({
            "header": {"msg_id": msg_id, "username": "bench", "session": "bench", "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": "1+1", "silent": false, "store_history": false, "user_expressions": {}, "allow_stdin": false}
        });
        let start = Instant::now();
        ws.send(Message::text(message.to_string())).await?;
        loop {
            let Some(frame) = ws.next().await else { bail!("kernel websocket closed") };
            if let Message::Text(text) = frame? {
                let reply: serde_json::Value = serde_json::from_str(text.as_str())?;
                if reply["msg_type"] == "execute_reply" && reply["parent_header"]["msg_id"] == msg_id.as_str()
                {
                    break;
                }
            }
        }
        if i >= 5 {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let _ = ws.close(None).await;
    let delete = hyper::Request::delete(format!("{}/user/{user}/api/kernels/{id}", t.base))
        .header(t.header.0, &t.header.1)
        .body(http_body_util::Full::new(Bytes::new()))?;
    let _ = c.request(delete).await;
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Proxy(args) => proxy(args).await,
        Cli::UsersApi(args) => users_api::run(args).await,
        Cli::Websockets(args) => websockets(args).await,
    }
}

async fn proxy(args: Args) -> anyhow::Result<()> {
    let direct = Target {
        name: "direct".into(),
        base: args.direct.clone(),
        header: ("authorization", format!("token {}", args.token)),
    };
    let proxy = Target {
        name: "ganymede".into(),
        base: args.proxy.clone(),
        header: ("cookie", format!("ganymede-session={}", args.session)),
    };
    let small = vec![format!("/user/{}/api/status", args.user)];
    let big = format!("/user/{}/files/bench-10MiB.bin", args.user);
    let one = format!("/user/{}/files/bench-1MiB.bin", args.user);

    println!("| measurement | direct | ganymede | ratio (ganymede/direct) |");
    println!("|---|---:|---:|---:|");
    for connections in [1, 10] {
        let d = rate(&direct, &small, connections, args.seconds).await?;
        let p = rate(&proxy, &small, connections, args.seconds).await?;
        println!(
            "| small GET, {connections} conn: requests/s | {:.0} | {:.0} | {:.2} |",
            d.rps,
            p.rps,
            p.rps / d.rps
        );
        println!(
            "| small GET, {connections} conn: p50 ms | {:.2} | {:.2} | {:.2} |",
            d.p50_ms,
            p.p50_ms,
            p.p50_ms / d.p50_ms
        );
        println!(
            "| small GET, {connections} conn: p99 ms | {:.2} | {:.2} | {:.2} |",
            d.p99_ms,
            p.p99_ms,
            p.p99_ms / d.p99_ms
        );
    }
    let d = download(&direct, &one).await?;
    let p = download(&proxy, &one).await?;
    println!("| 1 MiB download: MB/s | {d:.0} | {p:.0} | {:.2} |", p / d);
    let d = download(&direct, &big).await?;
    let p = download(&proxy, &big).await?;
    println!("| 10 MiB download: MB/s | {d:.0} | {p:.0} | {:.2} |", p / d);
    let d = sequential(&direct, &one, args.sequential).await?;
    let p = sequential(&proxy, &one, args.sequential).await?;
    let n = args.sequential;
    let max = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
    for (label, (dv, pv)) in [
        ("p50", (percentile(&d, 0.5), percentile(&p, 0.5))),
        ("p99", (percentile(&d, 0.99), percentile(&p, 0.99))),
        ("max", (max(&d), max(&p))),
    ] {
        println!("| {n} sequential 1 MiB GETs: {label} ms | {dv:.2} | {pv:.2} | {:.2} |", pv / dv);
    }
    let slow = p.iter().filter(|&&ms| ms > max(&d) + 5.0).count();
    println!("| {n} sequential 1 MiB GETs: slower than direct's max + 5 ms | | {slow} | |");
    let (d50, d99) = kernel_round_trip(&direct, &args.user, args.round_trips).await?;
    let (p50, p99) = kernel_round_trip(&proxy, &args.user, args.round_trips).await?;
    println!("| kernel execute round trip: p50 ms | {d50:.2} | {p50:.2} | {:.2} |", p50 / d50);
    println!("| kernel execute round trip: p99 ms | {d99:.2} | {p99:.2} | {:.2} |", p99 / d99);
    Ok(())
}
