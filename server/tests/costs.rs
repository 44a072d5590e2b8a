//! What the hub's periodic work costs, measured in its own test binary (so no other test's hub
//! shares the process): a `/hub/metrics` scrape of a hub holding 10,000 users and 100 running
//! servers, and the CPU the activity poll spends asking 100 plain-JupyterLab servers about their
//! kernels. The figures are printed (`bench/costs.sh` runs this); what is asserted is that the
//! work was done (the scrape's numbers, the poll's answers), never how fast.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use hub::domain::{ServerName, UserName};
use hub::servers::routes::Route;

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::TestApp;

const USERS: usize = 10_000;
const SERVERS: usize = 100;

/// 10,000 users, the first 100 of them with a default server the database says runs (and a
/// route to `upstream` with a token, as a plain-JupyterLab server has). Returns their names.
async fn populate(app: &TestApp, upstream: Option<SocketAddr>) -> Vec<UserName> {
    let names: Vec<UserName> =
        (0..USERS).map(|i| UserName::parse(&format!("user-{i:05}")).unwrap()).collect();
    for chunk in names.chunks(1000) {
        hub::users::add(&app.hub, None, chunk, false).await.unwrap();
    }
    let server = ServerName::default_server();
    for name in names.iter().take(SERVERS) {
        let user = hub::users::find(&app.hub, name).await.unwrap().unwrap();
        let mut conn = app.hub.db().acquire().await.unwrap();
        hub::db::servers::ensure(&mut conn, user.id, &server, 0).await.unwrap();
        let row = hub::db::servers::get(&mut *conn, user.id, &server).await.unwrap().unwrap();
        // Recorded as a start and its end would record it (no container behind it: only the
        // rows, the routes and the scrape are measured).
        let spawner = app.hub.spawners().current().unwrap();
        let planned = hub::db::servers::StoredWorkload {
            workload: spawner.planned_state(name, &server),
            token_nonce: "nonce".into(),
        };
        let start = hub::db::servers::PlannedStart {
            flavour: "base",
            size: "small",
            kind: spawner.kind(),
            planned: &planned,
            worker: app.hub.instance_id(),
        };
        let now = hub::db::now_ms();
        assert!(hub::db::servers::begin_start(
            &mut conn,
            row.id,
            hub::stored::ServerState::Stopped,
            start,
            now
        )
        .await
        .unwrap());
        let address = hub::spawner::Upstream::http(std::net::Ipv4Addr::LOCALHOST.into(), 9);
        assert!(hub::db::servers::mark_running(&mut conn, row.id, &address, &planned, now).await.unwrap());
        if let Some(upstream) = upstream {
            app.hub.routes().add(
                name.as_str(),
                "",
                Route {
                    server_id: row.id,
                    user_id: user.id,
                    upstream: hub::spawner::Upstream::http(upstream.ip(), upstream.port()),
                    token: Some("upstream-token".into()),
                },
            );
        }
    }
    names
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test]
async fn a_metrics_scrape_of_ten_thousand_users_and_a_hundred_servers() {
    let app = TestApp::spawn_with(|c| {
        c.metrics.open_to = vec![hub::config::AddressRange::parse("127.0.0.1").unwrap()]
    })
    .await;
    populate(&app, None).await;

    // The scrape's own work (database and encoding), then the whole request over HTTP.
    let mut rendered = Vec::new();
    for i in 0..60 {
        let began = Instant::now();
        let text = hub::metrics::render(&app.hub).await.unwrap();
        if i >= 10 {
            rendered.push(began.elapsed());
        }
        if i == 0 {
            assert!(text.contains(&format!("jupyterhub_total_users {USERS}")), "{text}");
            assert!(text.contains(&format!("jupyterhub_running_servers {SERVERS}")), "{text}");
            assert!(text.contains(&format!("ganymede_servers{{state=\"running\"}} {SERVERS}")));
        }
    }
    let mut http = Vec::new();
    let mut bytes = 0;
    for i in 0..60 {
        let began = Instant::now();
        let response = app.get("/hub/metrics", None).await;
        assert_eq!(response.status(), 200);
        bytes = response.bytes().await.unwrap().len();
        if i >= 10 {
            http.push(began.elapsed());
        }
    }
    rendered.sort();
    http.sort();
    println!(
        "metrics scrape: {USERS} users, {SERVERS} running servers ({}): render p50 {:.2} ms, p90 {:.2} ms; \
         GET /hub/metrics p50 {:.2} ms, p90 {:.2} ms, {bytes} bytes (50 scrapes each, after 10 warm-up)",
        app.hub.config().database_url().split(':').next().unwrap_or_default(),
        ms(percentile(&rendered, 0.5)),
        ms(percentile(&rendered, 0.9)),
        ms(percentile(&http, 0.5)),
        ms(percentile(&http, 0.9)),
    );
}

/// CPU time this process has used, user and system.
fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let of = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    of(usage.ru_utime) + of(usage.ru_stime)
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    // SAFETY: as above, for this thread.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    let of = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    of(usage.ru_utime) + of(usage.ru_stime)
}

/// A plain-JupyterLab stand-in on a thread (and runtime) of its own, so its CPU can be told
/// apart: every `api/kernels` and `api/terminals` answers one idle kernel. Returns its address
/// and a way to ask the CPU its thread used.
fn kernels_upstream() -> (SocketAddr, std::sync::mpsc::Sender<std::sync::mpsc::Sender<Duration>>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (ask_tx, ask_rx) = std::sync::mpsc::channel::<std::sync::mpsc::Sender<Duration>>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let answer = r#"[{"id":"k1","name":"python3","execution_state":"idle","last_activity":"2026-12-04T10:00:00.000000Z","connections":0}]"#;
            let app = Router::new().fallback(get(move || async move { ([("content-type", "application/json")], answer) }));
            tokio::spawn(async move { axum::serve(listener, app).await });
            loop {
                if let Ok(reply) = ask_rx.try_recv() {
                    let _ = reply.send(thread_cpu());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    });
    (addr_rx.recv().unwrap(), ask_tx)
}

fn upstream_cpu(ask: &std::sync::mpsc::Sender<std::sync::mpsc::Sender<Duration>>) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel();
    ask.send(tx).unwrap();
    rx.recv().unwrap()
}

#[tokio::test]
async fn the_activity_poll_of_a_hundred_servers() {
    let (upstream, ask) = kernels_upstream();
    let app = TestApp::spawn().await;
    populate(&app, Some(upstream)).await;
    assert_eq!(hub::servers::kernels::poll_round(&app.hub).await, SERVERS, "every server answered");

    const ROUNDS: u32 = 10;
    let (cpu_before, upstream_before, began) = (cpu(), upstream_cpu(&ask), Instant::now());
    for _ in 0..ROUNDS {
        assert_eq!(hub::servers::kernels::poll_round(&app.hub).await, SERVERS);
    }
    let wall = began.elapsed() / ROUNDS;
    let hub_cpu = (cpu() - cpu_before).saturating_sub(upstream_cpu(&ask) - upstream_before) / ROUNDS;
    let interval = app.hub.config().servers.activity_poll_seconds;
    let per_minute = hub_cpu.as_secs_f64() * 60.0 / interval as f64;
    println!(
        "activity poll: {SERVERS} servers: {:.1} ms CPU per round (the stand-in Jupyter's CPU left out), {:.1} ms wall; \
         at servers.activity_poll_seconds = {interval}: {:.1} ms CPU per minute ({:.3}% of one core)",
        ms(hub_cpu),
        ms(wall),
        per_minute * 1000.0,
        per_minute / 60.0 * 100.0,
    );
}
