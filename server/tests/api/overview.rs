//! The admin's Overview: the hub's figures sampled into the database (with the real engine's
//! server running), read back as charts, old samples dropped, only for admins.

use serde_json::Value;

use crate::helpers::TestApp;

async fn overview(app: &TestApp, session: &str, days: &str) -> reqwest::Response {
    app.server_fn("admin_overview", &[("days", days)], Some(session)).await
}

/// The value of the newest sample of a hub-wide figure.
fn last_point(overview: &Value, metric: &str) -> f64 {
    let points = chart(overview, metric)["series"][0]["points"].as_array().cloned().unwrap_or_default();
    points.last().and_then(|p| p[1].as_f64()).unwrap_or_else(|| panic!("no {metric} sample in {overview}"))
}

fn chart<'a>(overview: &'a Value, metric: &str) -> &'a Value {
    overview["charts"].as_array().unwrap().iter().find(|c| c["metric"] == metric).unwrap_or_else(|| {
        panic!("no {metric} chart in {overview}");
    })
}

#[tokio::test]
async fn the_overview_charts_what_the_hub_samples_and_keeps_it_bounded() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    let root = app.session("root", "root-password").await;
    let alice = app.session("alice", "alice-password").await;
    assert_eq!(overview(&app, &alice, "1").await.status(), 403);
    assert_eq!(overview(&app, &root, "3").await.status(), 400);

    // The hub samples once as it starts: nothing runs then; no GPU charts on a host without GPUs.
    let mut first = Value::Null;
    for _ in 0..50 {
        first = overview(&app, &root, "1").await.json().await.unwrap();
        if !chart(&first, "running_servers")["series"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last_point(&first, "running_servers"), 0.0, "{first}");
    assert!(first["charts"].as_array().unwrap().iter().all(|c| c["metric"] != "gpu_utilization_percent"));

    // A sample nine days old goes at the next round.
    sqlx::query(
        "INSERT INTO samples (at, metric, series, value_milli) VALUES ($1, 'running_servers', '', 5000)",
    )
    .bind(hub::db::now_ms() - 9 * 86_400_000)
    .execute(app.hub.db())
    .await
    .unwrap();

    // alice's server runs: a round samples it, with the start's time.
    assert_eq!(app.start_and_wait(&alice, "base", "small", "").await["ready"], true);
    let written = hub::overview::sample(&app.hub).await.unwrap();
    assert!(written >= 5, "running, active, queue, wait, start time: {written}");
    let day: Value = overview(&app, &root, "1").await.json().await.unwrap();
    assert_eq!(last_point(&day, "running_servers"), 1.0, "{day}");
    assert_eq!(last_point(&day, "active_users"), 2.0, "root and alice signed in");
    let start = last_point(&day, "spawn_seconds");
    assert!(start > 0.0 && start < 120.0, "{start}");
    assert_eq!(last_point(&day, "queue_length"), 0.0);

    // Stopped: the next round says so; the week shows both rounds and nothing older.
    let stop = app.server_fn("stop_server", &[("name", "")], Some(&alice)).await;
    assert_eq!(stop.status(), 200);
    hub::overview::sample(&app.hub).await.unwrap();
    let week: Value = overview(&app, &root, "7").await.json().await.unwrap();
    let points: Vec<f64> = chart(&week, "running_servers")["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert!(points.ends_with(&[1.0, 0.0]), "{week}");
    let old: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM samples WHERE value_milli = 5000")
        .fetch_one(app.hub.db())
        .await
        .unwrap();
    assert_eq!(old, 0, "the nine-day-old sample was dropped");
}

/// A person's own GPU use on the dashboard: the samples of the units they hold, from the start of
/// their GPU session. (This host has no GPU, so the test writes the samples the sampler would
/// have read from the driver; the units, the claim and the session are the real ledger's.)
#[tokio::test]
async fn the_dashboard_charts_the_gpus_a_person_holds_over_their_session() {
    let app = TestApp::spawn_with(|c| {
        crate::gpus::static_gpus(c, &["GPU-ov-0", "GPU-ov-1"], hub::config::GpuAttach::NvidiaRuntimeEnv)
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password").await;
    let none: Value = app.server_fn("my_gpu_use", &[], Some(&alice)).await.json().await.unwrap();
    assert_eq!(none, Value::Null, "no GPU held, no chart");

    assert_eq!(app.start_and_wait(&alice, "base", "gpu-test", "").await["ready"], true);
    let held: String =
        sqlx::query_scalar("SELECT uuid FROM gpu_claims").fetch_one(app.hub.db()).await.unwrap();
    let other = if held == "GPU-ov-0" { "GPU-ov-1" } else { "GPU-ov-0" };
    let now = hub::db::now_ms();
    for (at, uuid, value) in [
        (now - 86_400_000, held.as_str(), 99_000), // before the session: not shown
        (now - 200, held.as_str(), 40_000),
        (now, held.as_str(), 85_000),
        (now, other, 10_000), // someone else's unit: not shown
    ] {
        sqlx::query("INSERT INTO samples (at, metric, series, value_milli) VALUES ($1, 'gpu_utilization_percent', $2, $3)")
            .bind(at)
            .bind(uuid)
            .bind(value)
            .execute(app.hub.db())
            .await
            .unwrap();
    }
    let mine: Value = app.server_fn("my_gpu_use", &[], Some(&alice)).await.json().await.unwrap();
    let series = mine["chart"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{mine}");
    let values: Vec<f64> =
        series[0]["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
    assert_eq!(values, vec![40.0, 85.0], "{mine}");
    assert!(series[0]["label"].as_str().unwrap().contains("Test GPU 16GB"), "{mine}");
    let theirs: Value = app.server_fn("my_gpu_use", &[], Some(&bob)).await.json().await.unwrap();
    assert_eq!(theirs, Value::Null);
}
