//! The hub's own culler (`[culler]`), with the real engine and a real JupyterLab: a server whose
//! kernel works with the browser closed is kept, an idle one is warned about, kept by **Keep
//! running** and then culled with its reason on the dashboard and in the audit log; a culled
//! named server is removed; a size's own maximum age stops a server however it is used; idle
//! users (not admins) are removed.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::Value;

use crate::helpers::{execute, kernel, TestApp, COOKIE};

async fn json(app: &TestApp, function: &str, fields: &[(&str, &str)], session: &str) -> Value {
    let response = app.server_fn(function, fields, Some(session)).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{function}: {status}: {body}"))
}

/// The dashboard's row of a server (`""`: the default one), if it is listed.
async fn server_row(app: &TestApp, session: &str, name: &str) -> Option<Value> {
    let list = json(app, "my_servers", &[], session).await;
    list.as_array().unwrap().iter().find(|s| s["name"] == name).cloned()
}

/// The culler's notice of a running server on the dashboard.
async fn cull_notice(app: &TestApp, session: &str, label: &str) -> Option<Value> {
    let live = json(app, "my_usage", &[], session).await;
    let server = if label == "default" { "" } else { label };
    live.as_array().unwrap().iter().find(|u| u["server"] == server).map(|u| u["cull"].clone())
}

/// Waits (up to `limit`) until `check` says yes, asking every half second.
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The audit log's `(action, target, detail)`, oldest first.
async fn audit(app: &TestApp, action: &str) -> Vec<(String, String, Value)> {
    let rows: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT action, target, detail FROM events WHERE action = $1 ORDER BY id")
            .bind(action)
            .fetch_all(app.hub.db())
            .await
            .unwrap();
    rows.into_iter()
        .map(|(a, t, d)| (a, t.unwrap_or_default(), serde_json::from_str(&d).unwrap_or(Value::Null)))
        .collect()
}

#[tokio::test]
async fn a_working_kernel_is_kept_an_idle_server_is_warned_kept_running_then_culled_with_its_reason() {
    let app = TestApp::spawn_with(|c| {
        c.servers.activity_poll_seconds = 1;
        c.culler.enabled = true;
        c.culler.timeout_seconds = 12;
        c.culler.warn_seconds = 6;
        c.culler.every_seconds = 1;
        c.culler.remove_named_servers = true;
    })
    .await;
    app.add_user("ann", "ann-password-1", false).await;
    let ann = app.session("ann", "ann-password-1").await;
    assert_eq!(app.start_and_wait(&ann, "base", "small", "").await["ready"], true);
    assert_eq!(app.start_and_wait(&ann, "base", "small", "scratch").await["ready"], true);

    // A notice from the start, not yet a warning.
    let notice = cull_notice(&app, &ann, "default").await.expect("a running server");
    assert_eq!(notice["warned"], false, "{notice}");
    assert_eq!(notice["keepable"], true, "{notice}");
    assert_eq!(notice["reason"], "no activity for 12 s", "{notice}");

    // The default server's kernel works for 25 s with the browser closed; "scratch" idles.
    let mut ws = kernel(&app, "ann", ("cookie", format!("{COOKIE}={ann}"))).await;
    ws.send(execute(
        "job",
        "import time\nfor i in range(25):\n    print(i, flush=True)\n    time.sleep(1)\n",
    ))
    .await
    .unwrap();
    drop(ws);
    let job_started = Instant::now();
    until("the idle named server is culled and removed", Duration::from_secs(40), || async {
        server_row(&app, &ann, "scratch").await.is_none()
    })
    .await;
    assert!(job_started.elapsed() < Duration::from_secs(25), "scratch was culled only after the job");
    while job_started.elapsed() < Duration::from_secs(25) {
        let row = server_row(&app, &ann, "").await.expect("the default server");
        assert_eq!(row["status"], "running", "a server whose kernel works was culled: {row}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Idle after the job: warned ahead, with Keep running.
    until("the owner is warned", Duration::from_secs(30), || async {
        cull_notice(&app, &ann, "default").await.is_some_and(|n| n["warned"] == true)
    })
    .await;
    let warned = cull_notice(&app, &ann, "default").await.expect("still running");
    assert_eq!(server_row(&app, &ann, "").await.unwrap()["status"], "running");
    let kept_at = app.hub.clock().now_ms();
    let kept = app.server_fn("keep_running", &[("name", "")], Some(&ann)).await;
    assert_eq!(kept.status(), 200, "{}", kept.text().await.unwrap());
    let moved = cull_notice(&app, &ann, "default").await.expect("still running");
    assert!(moved["at_ms"].as_i64().unwrap() >= kept_at + 12_000, "{warned} → {moved}");
    assert_eq!(moved["warned"], false, "{moved}");
    // Someone else's server cannot be kept running by name, and a stopped one is a clear error.
    assert_eq!(app.server_fn("keep_running", &[("name", "nope")], Some(&ann)).await.status(), 404);

    until("the idle default server is culled", Duration::from_secs(40), || async {
        server_row(&app, &ann, "").await.is_some_and(|r| r["status"] == "stopped")
    })
    .await;
    assert!(
        app.hub.clock().now_ms() >= kept_at + 12_000,
        "culled before the timeout counted from Keep running"
    );
    let row = server_row(&app, &ann, "").await.unwrap();
    assert_eq!(row["last_error"], "Stopped by the hub: no activity for 12 s.", "{row}");
    assert!(crate::helpers::containers(&app.prefix).is_empty());

    let culls = audit(&app, "server.cull").await;
    let targets: Vec<&str> = culls.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(targets, ["ann/scratch", "ann/"], "{culls:?}");
    assert!(culls.iter().all(|(_, _, d)| d["cause"] == "idle" && d["reason"] == "no activity for 12 s"));
    let removed = audit(&app, "server.delete").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!((removed[0].1.as_str(), &removed[0].2["culled"]), ("ann/scratch", &Value::Bool(true)));
    assert_eq!(audit(&app, "server.keep_running").await.len(), 1);
    // A stopped server cannot be kept running.
    assert_eq!(app.server_fn("keep_running", &[("name", "")], Some(&ann)).await.status(), 409);
}

#[tokio::test]
async fn a_sizes_maximum_age_stops_a_server_however_used_and_idle_users_are_removed_but_not_admins() {
    let app = TestApp::spawn_with(|c| {
        c.culler.enabled = true;
        c.culler.timeout_seconds = 8;
        c.culler.every_seconds = 1;
        c.culler.cull_users = true;
        let own = hub::config::SizeCulling { timeout_seconds: Some(0), max_age_seconds: Some(12) };
        c.culler.sizes.insert("small".into(), own);
    })
    .await;
    app.add_user("root", "root-password-1", true).await;
    app.add_user("ben", "ben-password-1", false).await;
    app.add_user("cat", "cat-password-1", false).await;
    let ben = app.session("ben", "ben-password-1").await;
    assert_eq!(app.start_and_wait(&ben, "base", "small", "").await["ready"], true);
    let notice = cull_notice(&app, &ben, "default").await.expect("running");
    assert_eq!(notice["keepable"], false, "{notice}");
    assert_eq!(notice["reason"], "it reached its maximum age of 12 s", "{notice}");

    // Ben keeps using it; it stops at its maximum age all the same, and Keep running cannot help.
    until("the old server is culled", Duration::from_secs(40), || async {
        let _ = app.server_fn("keep_running", &[("name", "")], Some(&ben)).await;
        let running = sqlx::query_scalar::<_, String>("SELECT status FROM servers")
            .fetch_one(app.hub.db())
            .await
            .unwrap();
        running == "stopped"
    })
    .await;
    let culls = audit(&app, "server.cull").await;
    assert_eq!(culls.len(), 1, "{culls:?}");
    assert_eq!(culls[0].1, "ben/");
    assert_eq!(culls[0].2["cause"], "max_age");
    assert_eq!(culls[0].2["reason"], "it reached its maximum age of 12 s");

    // Idle users with nothing running go (cat at once, ben once his server is gone); admins stay.
    until("idle users are removed", Duration::from_secs(30), || async {
        audit(&app, "user.cull").await.len() == 2
    })
    .await;
    let users: Vec<String> =
        sqlx::query_scalar("SELECT name FROM users ORDER BY name").fetch_all(app.hub.db()).await.unwrap();
    assert_eq!(users, ["root"]);
    let culled: Vec<(String, Value)> =
        audit(&app, "user.cull").await.into_iter().map(|(_, t, d)| (t, d)).collect();
    assert_eq!(culled[0].0, "cat", "{culled:?}");
    assert_eq!(culled[1].0, "ben", "{culled:?}");
    assert_eq!(culled[0].1["reason"], "no activity for 8 s");
    // A removed user's session is over.
    assert_eq!(app.server_fn("my_servers", &[], Some(&ben)).await.status(), 401);
}
