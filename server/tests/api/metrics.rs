//! `GET /hub/metrics`: JupyterHub's metric families and Ganymede's own, behind `read:metrics`,
//! scraped by a real Prometheus (Debian's) whose query API then answers every PromQL expression
//! of JupyterHub's public Grafana dashboards that reads the hub's own metrics.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::helpers::{wait_for, TestApp};
use crate::services::role;

/// JupyterHub's dashboards' expressions (the file names their source).
const DASHBOARD_QUERIES: &str = include_str!("data/grafana-dashboards.promql");

async fn metrics_text(app: &TestApp, token: &str) -> String {
    let response = app.api_get("/hub/metrics", token).await;
    assert_eq!(response.status(), 200);
    let kind = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.unwrap()
}

/// A user `prom` whose role holds `read:metrics` only, and a token of theirs with it.
async fn prometheus_token(app: &TestApp) -> String {
    app.add_user("prom", "prom-password", false).await;
    let session = app.session("prom", "prom-password").await;
    let token =
        app.api_token(&session, "prom", json!({ "note": "prometheus", "scopes": ["read:metrics"] })).await;
    token["token"].as_str().unwrap().to_owned()
}

fn with_metrics_role(c: &mut hub::config::Config) {
    c.roles.push(role("prometheus", &["read:metrics"], &[], &["prom"]));
}

/// The value of the first sample line that starts with `series` (its labels included).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_need_read_metrics_and_carry_jupyterhubs_families_from_the_start() {
    let app = TestApp::spawn_with(|c| {
        with_metrics_role(c);
        crate::gpus::static_gpus(
            c,
            &["GPU-metrics-0", "GPU-metrics-1"],
            hub::config::GpuAttach::NvidiaRuntimeEnv,
        );
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    let alice = app.session("alice", "alice-password").await;

    // No credentials, and a user without read:metrics: 403 in the API's error shape.
    let none = app.get("/hub/metrics", None).await;
    assert_eq!(none.status(), 403);
    assert_eq!(none.json::<Value>().await.unwrap()["status"], 403);
    assert_eq!(app.get("/hub/metrics", Some(&alice)).await.status(), 403);
    assert_eq!(app.get("/hub/api/metrics", Some(&alice)).await.status(), 403);

    let token = prometheus_token(&app).await;
    // A failed sign-in and a progress stream for a server that is not starting, to be counted.
    assert_eq!(app.login("alice", "wrong-password").await.status(), 400);
    let _ = app.api_get("/hub/api/users/prom/server/progress", &token).await;
    let text = metrics_text(&app, &token).await;
    for family in [
        "# TYPE jupyterhub_request_duration_seconds histogram",
        "# TYPE jupyterhub_server_spawn_duration_seconds histogram",
        "# TYPE jupyterhub_server_stop_seconds histogram",
        "# TYPE jupyterhub_server_poll_duration_seconds histogram",
        "# TYPE jupyterhub_proxy_add_duration_seconds histogram",
        "# TYPE jupyterhub_proxy_delete_duration_seconds histogram",
        "# TYPE jupyterhub_check_routes_duration_seconds histogram",
        "# TYPE jupyterhub_hub_startup_duration_seconds histogram",
        "# TYPE jupyterhub_init_spawners_duration_seconds histogram",
        "# TYPE jupyterhub_running_servers gauge",
        "# TYPE jupyterhub_total_users gauge",
        "# TYPE jupyterhub_active_users gauge",
        "# TYPE jupyterhub_login_duration_seconds histogram",
        "# TYPE jupyterhub_logout_duration_seconds histogram",
        "# TYPE jupyterhub_event_loop_interval_seconds histogram",
        "# TYPE ganymede_gpus gauge",
        "# TYPE ganymede_gpu_queue_length gauge",
        "# TYPE ganymede_proxy_websockets gauge",
        "# TYPE ganymede_db_pool_connections gauge",
    ] {
        assert!(text.contains(family), "{family} missing from\n{text}");
    }
    // JupyterHub's zero series exist before anything happened.
    for zero in [
        "jupyterhub_server_spawn_duration_seconds_count{reason=\"already-pending\",status=\"failure\"} 0",
        "jupyterhub_server_spawn_duration_seconds_count{reason=\"\",status=\"success\"} 0",
        "jupyterhub_server_stop_seconds_count{status=\"success\"} 0",
        "jupyterhub_proxy_delete_duration_seconds_count{status=\"failure\"} 0",
        "ganymede_culls_total{reason=\"idle\"} 0",
    ] {
        assert!(text.contains(zero), "{zero} missing");
    }
    // The figures are the database's: two users, prom and alice active today (they signed in).
    assert_eq!(sample(&text, "jupyterhub_total_users "), Some(2.0));
    assert_eq!(sample(&text, "jupyterhub_active_users{period=\"24h\"}"), Some(2.0));
    assert_eq!(sample(&text, "jupyterhub_running_servers "), Some(0.0));
    assert_eq!(sample(&text, "jupyterhub_hub_startup_duration_seconds_count "), Some(1.0));
    // The static inventory's two GPUs, both free.
    assert_eq!(sample(&text, "ganymede_gpus{model=\"Test GPU 16GB\",state=\"free\"}"), Some(2.0));
    assert_eq!(sample(&text, "ganymede_gpus{model=\"Test GPU 16GB\",state=\"allocated\"}"), Some(0.0));
    // Two good sign-ins and a wrong password, under JupyterHub's label values.
    assert_eq!(
        sample(&text, "jupyterhub_login_duration_seconds_count{status=\"LoginStatus.success\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "jupyterhub_login_duration_seconds_count{status=\"LoginStatus.failure\"}"),
        Some(1.0)
    );
    // Requests by JupyterHub's handler names; the progress stream by the one its dashboards skip.
    assert!(text.contains("handler=\"jupyterhub.apihandlers.users.SpawnProgressAPIHandler\""), "{text}");
    assert!(
        text.contains("handler=\"jupyterhub.apihandlers.users.UserAPIHandler\"")
            || text.contains("UserTokenListAPIHandler")
    );
    assert!(text.contains("jupyterhub_event_loop_interval_seconds_count"));

    // A second user is counted at the next scrape.
    app.add_user("bob", "bob-password", false).await;
    assert_eq!(sample(&metrics_text(&app, &token).await, "jupyterhub_total_users "), Some(3.0));
}

#[tokio::test]
async fn listed_addresses_scrape_without_a_token() {
    let app = TestApp::spawn_with(|c| {
        c.metrics.open_to = vec![hub::config::AddressRange::parse("127.0.0.0/8").unwrap()];
    })
    .await;
    let response = app.get("/hub/metrics", None).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("jupyterhub_total_users 0"));

    let elsewhere = TestApp::spawn_with(|c| {
        c.metrics.open_to = vec![hub::config::AddressRange::parse("192.0.2.0/24").unwrap()];
    })
    .await;
    assert_eq!(elsewhere.get("/hub/metrics", None).await.status(), 403);
}

/// A Prometheus of its own, on a free loopback port, scraping `target` every second.
struct Prometheus {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Prometheus {
    async fn start(target: &str, token: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ganymede\n    metrics_path: /hub/metrics\n\
             \x20   authorization:\n      type: Bearer\n      credentials: {token}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n        labels:\n          app: jupyterhub\n"
        );
        let file = data.path().join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", data.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's prometheus (scripts/setup.sh installs it)");
        let prometheus = Prometheus { child, base: format!("http://127.0.0.1:{port}"), _data: data };
        let http = reqwest::Client::new();
        let ready = format!("{}/-/ready", prometheus.base);
        let mut up = false;
        for _ in 0..120 {
            if http.get(&ready).send().await.is_ok_and(|r| r.status() == 200) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(up, "prometheus did not become ready");
        prometheus
    }

    /// `GET /api/v1/query` at `at` (seconds since the epoch): the result vector.
    async fn query(&self, expr: &str, at: f64) -> Vec<Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr), ("time", &at.to_string())])
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "success", "{expr}: {body}");
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_hub_and_the_jupyterhub_dashboards_queries_answer() {
    let app = TestApp::spawn_with(with_metrics_role).await;
    let token = prometheus_token(&app).await;
    let target = app.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
    let prometheus = Prometheus::start(&target, &token).await;

    // The scrape works with the token: Prometheus reads the hub's user count.
    let mut users = None;
    for _ in 0..60 {
        let found = prometheus.query("jupyterhub_total_users{job=\"ganymede\"}", now()).await;
        users = found.first().and_then(|s| s["value"][1].as_str()).map(str::to_owned);
        if users.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(users.as_deref(), Some("1"), "prometheus never read jupyterhub_total_users");
    let up = prometheus.query("up{job=\"ganymede\"}", now()).await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");

    // Live figures: a new user shows up in Prometheus within a few scrapes.
    app.add_user("carol", "carol-password", false).await;
    let mut seen = String::new();
    for _ in 0..40 {
        let found = prometheus.query("jupyterhub_total_users", now()).await;
        seen = found.first().and_then(|s| s["value"][1].as_str()).unwrap_or_default().to_owned();
        if seen == "2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(seen, "2");

    // Some traffic for the request panels, then enough history for `offset 5m` (evaluated where
    // the last scrape is within the lookback and an earlier one is five minutes before).
    for _ in 0..5 {
        let _ = app.api_get("/hub/api/users/prom", &token).await;
    }
    let first = now();
    wait_for("a scrape 15 s old", Duration::from_secs(30), || now() - first > 15.0).await;
    let later = now() + 290.0;
    let mut checked = 0;
    for expr in DASHBOARD_QUERIES.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let at_now = prometheus.query(expr, now()).await;
        let at_later = prometheus.query(expr, later).await;
        assert!(!at_now.is_empty() || !at_later.is_empty(), "no series for the dashboards' {expr}");
        checked += 1;
    }
    assert_eq!(checked, 8, "every expression of the dashboards' file was asked");
}
