//! What counts as a server's activity, with the real engine and a real JupyterLab: a kernel that
//! works with the browser closed keeps moving the server's `last_activity` (the hub asks Jupyter
//! about its kernels); an open but idle tab (a kernel websocket left open, pages polled) does not.

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{execute, kernel, TestApp, COOKIE};

async fn last_activity(app: &TestApp) -> i64 {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT last_activity FROM servers").fetch_one(app.hub.db()).await.unwrap();
    at.unwrap_or(0)
}

#[tokio::test]
async fn a_kernel_at_work_with_the_browser_closed_is_activity_and_an_idle_open_tab_is_not() {
    let app = TestApp::spawn_with(|c| c.servers.activity_poll_seconds = 1).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);

    // A job of 12 s that prints every second; the browser goes away as soon as it is sent.
    let mut ws = kernel(&app, "alice", ("cookie", format!("{COOKIE}={session}"))).await;
    ws.send(execute(
        "job",
        "import time\nfor i in range(12):\n    print(i, flush=True)\n    time.sleep(1)\n",
    ))
    .await
    .unwrap();
    drop(ws);
    app.hub.activity().flush(&app.hub).await.unwrap();
    let closed = last_activity(&app).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let working = last_activity(&app).await;
    assert!(working >= closed + 3000, "the working kernel did not move last_activity: {closed} → {working}");

    // Once it is done, an open tab (a kernel websocket left open, the pages polled) moves nothing.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let mut tab = kernel(&app, "alice", ("cookie", format!("{COOKIE}={session}"))).await;
    // The new kernel's start (a POST) and first messages are activity; then it idles.
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.hub.activity().flush(&app.hub).await.unwrap();
    let idle_since = last_activity(&app).await;
    for _ in 0..8 {
        assert_eq!(app.get("/user/alice/api/kernels", Some(&session)).await.status(), 200);
        assert_eq!(app.get("/user/alice/api/contents", Some(&session)).await.status(), 200);
        tab.send(Message::Ping(vec![1].into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
    app.hub.activity().flush(&app.hub).await.unwrap();
    assert_eq!(last_activity(&app).await, idle_since, "an idle open tab moved last_activity");
}

/// PyPI's idle culler with a one-minute timeout, as a managed service: servers whose kernel runs a
/// two-minute job with the browser closed are kept (plain JupyterLab, asked by the hub; a
/// `jupyterhub-singleuser` server, reporting itself), the same servers idle are culled.
#[tokio::test]
async fn a_culler_keeps_servers_whose_kernels_work_with_the_browser_closed_and_culls_idle_ones() {
    let app = TestApp::spawn_with(|c| {
        c.hub.servers_api_port = 0;
        c.servers.activity_poll_seconds = 5;
        c.flavours.push(crate::egress::base_singleuser());
        crate::services::pypi_culler(c, &["--timeout=60", "--cull-every=10"], &[]);
    })
    .await;
    // Working and idle, of each kind.
    let people = [
        ("ann", "base", true),
        ("ben", "base-hub", true),
        ("cat", "base", false),
        ("dan", "base-hub", false),
    ];
    let mut sessions = Vec::new();
    for (name, flavour, _) in people {
        app.add_user(name, "a-password-1", false).await;
        let session = app.session(name, "a-password-1").await;
        assert_eq!(app.start_and_wait(&session, flavour, "small", "").await["ready"], true, "{name}");
        sessions.push(session);
    }
    let started = std::time::Instant::now();
    for ((name, _, works), session) in people.iter().zip(&sessions) {
        if !works {
            continue;
        }
        // The person's own API token: a single-user server checks it with the hub.
        let token = app.api_token(session, name, serde_json::json!({})).await;
        let token = token["token"].as_str().unwrap().to_owned();
        let mut ws = kernel(&app, name, ("authorization", format!("token {token}"))).await;
        ws.send(execute(
            "job",
            "import time\nfor i in range(24):\n    print(i, flush=True)\n    time.sleep(5)\n",
        ))
        .await
        .unwrap();
        // The browser is closed: nobody is connected while the job runs.
        drop(ws);
    }
    let running = |name: &'static str| {
        let app = &app;
        async move {
            let rows =
                hub::db::servers::in_state(app.hub.db(), hub::servers::ServerState::Running).await.unwrap();
            rows.iter().filter_map(|r| r.as_ref().ok()).any(|r| r.user_name.as_str() == name)
        }
    };
    // The idle ones go once they have been idle for the timeout (and the culler's round).
    loop {
        let (cat, dan) = (running("cat").await, running("dan").await);
        if !cat && !dan {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(110),
            "the idle servers were not culled: cat {cat}, dan {dan}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The working ones stay for the whole job, twice the timeout.
    while started.elapsed() < Duration::from_secs(120) {
        assert!(running("ann").await, "ann's working plain-JupyterLab server was culled");
        assert!(running("ben").await, "ben's working single-user server was culled");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
