//! `ganymede-login-memory`: the hub's resident memory under failed sign-ins (issue 9, item 1).
//!
//! Fires `--requests` failed `POST /hub/fn/login` from `--clients` concurrent clients — random
//! unknown names, and every tenth a wrong password for `--user` — at a running hub whose process id
//! is `--pid`, samples its resident memory meanwhile, waits, and prints idle / peak / after and the
//! answers' statuses. It fails when the memory after the load, or the peak, is `--max-growth-mib`
//! or more above idle.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Parser, Debug)]
struct Args {
    /// The hub, e.g. http://127.0.0.1:8000
    #[arg(long)]
    base: String,
    /// The hub's process id, whose `/proc/PID/status` is read.
    #[arg(long)]
    pid: u32,
    /// A real user, some of whose sign-ins use a wrong password.
    #[arg(long, default_value = "bench")]
    user: String,
    #[arg(long, default_value_t = 1000)]
    requests: u64,
    #[arg(long, default_value_t = 50)]
    clients: u64,
    /// Seconds to wait after the load before the last reading.
    #[arg(long, default_value_t = 3)]
    settle_seconds: u64,
    #[arg(long, default_value_t = 100)]
    max_growth_mib: u64,
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the hub's status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// A name no account has: 12 random lowercase letters.
fn random_name(state: &mut u64) -> String {
    (0..12)
        .map(|_| {
            // xorshift64: plenty for names that only need to differ.
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            char::from(b'a' + u8::try_from(*state % 26).unwrap_or(0))
        })
        .collect()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let idle = rss_kib(args.pid)?;
    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), args.pid);
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok(now) = rss_kib(pid) {
                    peak.fetch_max(now, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, next, base, user) = (client.clone(), next.clone(), args.base.clone(), args.user.clone());
        let total = args.requests;
        tasks.push(tokio::spawn(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (c + 1).wrapping_mul(0x1000_0001);
            let mut statuses = BTreeMap::<u16, u64>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let name = if i % 10 == 0 { user.clone() } else { random_name(&mut seed) };
                let body = format!("username={name}&password=wrong-password-{i}");
                let request = hyper::Request::post(format!("{base}/hub/fn/login"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(body)))?;
                let response = client.request(request).await.context("sign-in request")?;
                let status = response.status().as_u16();
                response.into_body().collect().await.context("reading the answer")?;
                *statuses.entry(status).or_default() += 1;
            }
            anyhow::Ok(statuses)
        }));
    }
    let mut statuses = BTreeMap::<u16, u64>::new();
    for task in tasks {
        for (status, n) in task.await.context("client task")?? {
            *statuses.entry(status).or_default() += n;
        }
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    done.store(true, Ordering::Relaxed);
    sampler.await.context("sampler")?;
    let after = rss_kib(args.pid)?;
    let peak = peak.load(Ordering::Relaxed).max(after);
    println!("| failed sign-ins | clients | seconds | answers | idle MiB | peak MiB | after MiB | after − idle MiB |");
    println!("|---:|---:|---:|---|---:|---:|---:|---:|");
    let answers: Vec<String> = statuses.iter().map(|(s, n)| format!("{n}×{s}")).collect();
    println!(
        "| {} | {} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        args.requests,
        args.clients,
        elapsed.as_secs_f64(),
        answers.join(", "),
        mib(idle),
        mib(peak),
        mib(after),
        mib(after.saturating_sub(idle)),
    );
    let limit = args.max_growth_mib * 1024;
    anyhow::ensure!(
        peak.saturating_sub(idle) < limit && after.saturating_sub(idle) < limit,
        "resident memory grew {:.1} MiB (peak) / {:.1} MiB (after): the bound is {} MiB",
        mib(peak.saturating_sub(idle)),
        mib(after.saturating_sub(idle)),
        args.max_growth_mib
    );
    Ok(())
}
