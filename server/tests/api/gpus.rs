//! GPUs with the real engine: a static inventory of four GPUs attached through
//! `NVIDIA_VISIBLE_DEVICES` (`gpu_attach = "nvidia-runtime-env"`), so these containers start on a
//! machine without GPUs and each shows which units it was given.

use std::collections::HashSet;
use std::time::Duration;

use hub::config::{Config, GpuAttach, GpuDiscovery, StaticGpu};

use crate::helpers::{
    containers, inspect, labels, random_prefix, session_cookie, DockerCleanup, Scratch, TestApp, COOKIE,
};

const UUIDS: [&str; 4] = ["GPU-test-0000", "GPU-test-0001", "GPU-test-0002", "GPU-test-0003"];

fn four_gpus(c: &mut Config) {
    static_gpus(c, &UUIDS, GpuAttach::NvidiaRuntimeEnv);
}

/// A static inventory of these UUIDs attached as `attach` says, and the `gpu-test` size (one GPU,
/// resources this 2-core test machine can run).
pub fn static_gpus(c: &mut Config, uuids: &[&str], attach: GpuAttach) {
    c.servers.gpu_discovery = GpuDiscovery::Static;
    c.spawner.docker.gpu_attach = attach;
    c.gpus = uuids
        .iter()
        .map(|u| StaticGpu {
            uuid: (*u).into(),
            model: "Test GPU 16GB".into(),
            memory_mib: 16384,
            mig_profile: None,
        })
        .collect();
    c.sizes.push(hub::config::SizeConfig {
        id: "gpu-test".into(),
        display_name: "1 test GPU".into(),
        cpu: 0.5,
        memory_mib: 1024,
        gpus: 1,
        gpu_model: None,
        gpu_min_memory_mib: None,
        mig_profile: None,
    });
}

/// The same as a config file's lines.
const GPU_TEST_SIZE: &str = "[[sizes]]\nid = \"small\"\ndisplay_name = \"Small\"\ncpu = 0.5\nmemory_mib = 1024\n\n[[sizes]]\nid = \"gpu-test\"\ndisplay_name = \"1 test GPU\"\ncpu = 0.5\nmemory_mib = 1024\ngpus = 1\n\n";

/// Waits (up to a minute) until `n` containers carry the prefix.
async fn wait_for_containers(prefix: &str, n: usize) {
    for _ in 0..120 {
        if containers(prefix).len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("expected {n} containers, found {:?}", containers(prefix));
}

/// `NVIDIA_VISIBLE_DEVICES` of a container.
fn visible_devices(container: &str) -> String {
    let c = inspect(container);
    let env = c["Config"]["Env"].as_array().cloned().unwrap_or_default();
    let values: Vec<String> = env
        .iter()
        .filter_map(|e| e.as_str()?.strip_prefix("NVIDIA_VISIBLE_DEVICES=").map(str::to_owned))
        .collect();
    assert_eq!(values.len(), 1, "exactly one NVIDIA_VISIBLE_DEVICES: {env:?}");
    values[0].clone()
}

fn container_of(prefix: &str, user: &str) -> String {
    let ids = containers(prefix);
    ids.into_iter()
        .find(|id| labels(id)["org.ganymede.user"] == user)
        .unwrap_or_else(|| panic!("no container of {user}"))
}

#[tokio::test]
async fn each_gpu_server_gets_its_own_uuid_a_fifth_queues_and_starts_when_one_stops_and_cpu_servers_get_void()
{
    let app = TestApp::spawn_with(four_gpus).await;
    let mut sessions = Vec::new();
    for i in 1..=5 {
        let name = format!("u{i}");
        app.add_user(&name, "user-password-1", false).await;
        sessions.push((name.clone(), app.session(&name, "user-password-1").await));
    }
    for (name, session) in &sessions[..4] {
        let last = app.start_and_wait(session, "base", "gpu-test", "").await;
        assert_eq!(last["ready"], true, "{name}: {last}");
    }
    let given: Vec<String> =
        sessions[..4].iter().map(|(n, _)| visible_devices(&container_of(&app.prefix, n))).collect();
    let distinct: HashSet<&String> = given.iter().collect();
    assert_eq!(distinct.len(), 4, "no GPU given twice: {given:?}");
    assert!(given.iter().all(|g| UUIDS.contains(&g.as_str())), "one whole UUID each: {given:?}");

    // The launch form says how many are free.
    let options: serde_json::Value =
        app.server_fn("launch_options", &[], Some(&sessions[4].1)).await.json().await.unwrap();
    let gpu1 = options["sizes"].as_array().unwrap().iter().find(|s| s["id"] == "gpu-test").unwrap().clone();
    assert_eq!(gpu1["gpus_free"], serde_json::json!([0, 4]), "{options}");
    assert_eq!(gpu1["summary"], "0.5 CPU · 1 GiB · 1 GPU (Test GPU 16GB, 16 GiB)", "{gpu1}");

    // A fifth GPU request: none free, so it queues (the REST model says so) and starts nothing.
    let (fifth, fifth_session) = &sessions[4];
    let queued = app
        .server_fn(
            "start_server",
            &[("flavour", "base"), ("size", "gpu-test"), ("name", "")],
            Some(fifth_session),
        )
        .await;
    assert_eq!(queued.status(), 200);
    let model: serde_json::Value =
        app.get("/hub/api/users/u5", Some(fifth_session)).await.json().await.unwrap();
    assert_eq!(model["servers"][""]["pending"], "queued", "{model}");
    assert_eq!(containers(&app.prefix).len(), 4);

    // One stops; the fifth starts by itself, on exactly the GPU that was released.
    let (first, first_session) = &sessions[0];
    let released = given[0].clone();
    assert_eq!(app.server_fn("stop_server", &[("name", "")], Some(first_session)).await.status(), 200);
    let last = app.final_progress(fifth_session, "").await;
    assert_eq!(last["ready"], true, "{last}");
    assert_eq!(visible_devices(&container_of(&app.prefix, fifth)), released);

    // A CPU server sees no GPU at all.
    assert_eq!(app.start_and_wait(first_session, "base", "small", "").await["ready"], true);
    assert_eq!(visible_devices(&container_of(&app.prefix, first)), "void");

    // The ledger as `ganymede gpus` reports it: four units, each held once.
    let report = hub::gpus::ledger::report(&app.hub).await.unwrap();
    let holders: Vec<Option<String>> = report.units.iter().map(|u| u.held_by.clone()).collect();
    assert_eq!(holders.iter().flatten().count(), 4, "{holders:?}");
    assert!(!holders.contains(&Some(format!("{first}/"))), "the stopped server holds nothing: {holders:?}");
}

#[tokio::test]
async fn twenty_concurrent_gpu_starts_hand_out_no_uuid_twice() {
    let app = TestApp::spawn_with(four_gpus).await;
    let mut sessions = Vec::new();
    for i in 0..10 {
        let name = format!("c{i}");
        app.add_user(&name, "user-password-1", false).await;
        sessions.push(app.session(&name, "user-password-1").await);
    }
    // Ten users, each asking for two GPU servers at once: twenty starts for four GPUs.
    let app = &app;
    let starts = sessions.iter().flat_map(|session| {
        ["", "second"].map(|name| async move {
            let fields = [("flavour", "base"), ("size", "gpu-test"), ("name", name)];
            app.server_fn("start_server", &fields, Some(session)).await
        })
    });
    let statuses: Vec<u16> =
        futures_util::future::join_all(starts).await.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "each started or queued: {statuses:?}");
    let queued = hub::servers::queue(&app.hub).await.unwrap().len();
    assert_eq!(queued, 16, "sixteen wait in the queue");
    let report = hub::gpus::ledger::report(&app.hub).await.unwrap();
    let held: Vec<&String> = report.units.iter().filter_map(|u| u.held_by.as_ref()).collect();
    assert_eq!(held.len(), 4);
    assert_eq!(held.iter().collect::<HashSet<_>>().len(), 4, "four different servers: {held:?}");
    // The containers come up with four different UUIDs.
    wait_for_containers(&app.prefix, 4).await;
    let given: HashSet<String> = containers(&app.prefix).iter().map(|c| visible_devices(c)).collect();
    assert_eq!(given.len(), 4, "{given:?}");
}

#[tokio::test]
async fn the_ledger_and_the_queue_survive_a_kill_9_and_the_queued_server_gets_the_released_gpu() {
    let dir = Scratch::new();
    let prefix = random_prefix("gg");
    let _cleanup = DockerCleanup(prefix.clone());
    // Two GPUs: two servers hold them, a third waits in the queue when the hub is killed.
    let gpus: String = UUIDS[..2]
        .iter()
        .map(|u| format!("[[gpus]]\nuuid = \"{u}\"\nmodel = \"Test GPU\"\nmemory_mib = 16384\n\n"))
        .collect();
    std::fs::write(
        dir.path().join("ganymede.toml"),
        format!("[servers]\ngpu_discovery = \"static\"\n\n[spawner.docker]\ngpu_attach = \"nvidia-runtime-env\"\n\n{GPU_TEST_SIZE}{gpus}"),
    )
    .unwrap();
    let env = [
        ("GANYMEDE_ADMIN_USER", "alice"),
        ("GANYMEDE_ADMIN_PASSWORD", "alice-password"),
        ("GANYMEDE_SPAWNER__DOCKER__PREFIX", prefix.as_str()),
    ];
    let mut served = crate::cli::serve(&dir, &env);
    let http = crate::helpers::client_builder().build().unwrap();
    let login = http
        .post(format!("{}/hub/fn/login", served.base))
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    let cookie = format!("{COOKIE}={}", session_cookie(login.headers()).expect("signed in"));
    let start = |base: String, name: &'static str| {
        let http = http.clone();
        let cookie = cookie.clone();
        async move {
            http.post(format!("{base}/hub/fn/start_server"))
                .header("cookie", cookie)
                .form(&[("flavour", "base"), ("size", "gpu-test"), ("name", name)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(start(served.base.clone(), "").await, 200);
    assert_eq!(start(served.base.clone(), "second").await, 200);
    wait_for_containers(&prefix, 2).await;
    let before: HashSet<String> = containers(&prefix).iter().map(|c| visible_devices(c)).collect();
    assert_eq!(before.len(), 2, "{before:?}");
    // The REST model of alice.
    let user = |base: String| {
        let (http, cookie) = (http.clone(), cookie.clone());
        async move {
            let v: serde_json::Value = http
                .get(format!("{base}/hub/api/users/alice"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    // Wait until both are running, then kill the hub.
    for _ in 0..240 {
        let model = user(served.base.clone()).await;
        let servers = model["servers"].as_object().cloned().unwrap_or_default();
        if servers.len() == 2 && servers.values().all(|s| s["ready"] == true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(start(served.base.clone(), "third").await, 200);
    served.child.kill().unwrap();
    served.child.wait().unwrap();

    let served = crate::cli::serve(&dir, &env);
    // The ledger still names both running servers' GPUs: `ganymede gpus --json`.
    let out = crate::cli::ganymede(&dir).args(["gpus", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source"], "static", "{report}");
    let held: HashSet<String> = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| !u["held_by"].is_null())
        .map(|u| u["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(held, before, "the claims are those of the running containers: {report}");
    // The queued server is still queued, and starts on the GPU the first one releases.
    let model = user(served.base.clone()).await;
    assert_eq!(model["servers"]["third"]["pending"], "queued", "{model}");
    let first_gpu = containers(&prefix)
        .into_iter()
        .find(|c| labels(c)["org.ganymede.server"] == "")
        .map(|c| visible_devices(&c))
        .expect("the default server's container");
    let stop = http
        .post(format!("{}/hub/fn/stop_server", served.base))
        .header("cookie", &cookie)
        .form(&[("name", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 200);
    for _ in 0..240 {
        if user(served.base.clone()).await["servers"]["third"]["ready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let third = containers(&prefix)
        .into_iter()
        .find(|c| labels(c)["org.ganymede.server"] == "third")
        .expect("the third server's container");
    assert_eq!(visible_devices(&third), first_gpu, "the queued server got the released GPU");
    let after: HashSet<String> = containers(&prefix).iter().map(|c| visible_devices(c)).collect();
    assert_eq!(after.len(), 2, "each GPU once: {after:?}");
    drop(served);
}

#[tokio::test]
async fn gpu_quotas_refuse_a_start_with_the_reason_and_admins_see_edit_and_export_the_usage() {
    let app = TestApp::spawn_with(|c| {
        four_gpus(c);
        c.gpu_limits.default.gpus_at_once = Some(1);
        c.gpu_limits.default.gpu_hours = Some(30.0);
    })
    .await;
    app.add_user("ann", "user-password-1", false).await;
    app.add_user("root", "admin-password-1", true).await;
    let ann = app.session("ann", "user-password-1").await;
    let root = app.session("root", "admin-password-1").await;
    assert_eq!(app.start_and_wait(&ann, "base", "gpu-test", "").await["ready"], true);

    // A second GPU server is over her limit: 403 with the reason, and nothing starts.
    let second = [("flavour", "base"), ("size", "gpu-test"), ("name", "two")];
    let refused = app.server_fn("start_server", &second, Some(&ann)).await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.unwrap();
    assert!(text.contains("at most 1 GPU(s) at once"), "{text}");
    assert_eq!(containers(&app.prefix).len(), 1);

    // Her usage page: the quota and the running session.
    let usage: serde_json::Value = app.server_fn("my_gpu_usage", &[], Some(&ann)).await.json().await.unwrap();
    assert_eq!(usage["limits"]["gpus_at_once"], 1, "{usage}");
    assert_eq!(usage["limits"]["gpu_hours"], 30.0, "{usage}");
    assert_eq!(usage["sessions"].as_array().unwrap().len(), 1, "{usage}");
    assert_eq!(usage["sessions"][0]["ended_ms"], serde_json::Value::Null);
    // The dashboard's live view names the GPU she holds.
    let live: serde_json::Value = app.server_fn("my_usage", &[], Some(&ann)).await.json().await.unwrap();
    assert_eq!(live[0]["gpus"].as_array().unwrap().len(), 1, "{live}");

    // Only admins edit limits; a bad figure is a clear 400.
    let raise = [("kind", "user"), ("name", "ann"), ("gpus_at_once", "2")];
    assert_eq!(app.server_fn("set_gpu_limits", &raise, Some(&ann)).await.status(), 403);
    let bad = app
        .server_fn("set_gpu_limits", &[("kind", "user"), ("name", "ann"), ("gpu_hours", "lots")], Some(&root))
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("GPU-hours must be a number"));
    let nobody = app.server_fn("set_gpu_limits", &[("kind", "user"), ("name", "nobody")], Some(&root)).await;
    assert_eq!(nobody.status(), 404);
    assert_eq!(app.server_fn("set_gpu_limits", &raise, Some(&root)).await.status(), 200);
    assert_eq!(app.server_fn("start_server", &second, Some(&ann)).await.status(), 200);
    assert_eq!(app.final_progress(&ann, "two").await["ready"], true);

    // The admin's live view and report.
    let all: serde_json::Value =
        app.server_fn("admin_live_usage", &[], Some(&root)).await.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(app.server_fn("admin_live_usage", &[], Some(&ann)).await.status(), 403);
    let report: serde_json::Value =
        app.server_fn("admin_usage", &[], Some(&root)).await.json().await.unwrap();
    let line = report["users"].as_array().unwrap().iter().find(|l| l["name"] == "ann").cloned().unwrap();
    assert_eq!((line["source"].as_str(), line["gpus_now"].as_f64()), (Some("override"), Some(2.0)), "{line}");

    // The CSV export: admins only.
    let csv = app.get("/hub/admin/usage.csv", Some(&root)).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = csv.text().await.unwrap();
    let mut lines = body.lines();
    assert!(
        lines.next().unwrap().starts_with("kind,name,gpu_hours_used,window_days,gpu_hours_limit"),
        "{body}"
    );
    let ann_line = body.lines().find(|l| l.starts_with("user,ann,")).unwrap_or_else(|| panic!("{body}"));
    assert!(ann_line.ends_with(",2,,,override"), "{ann_line}");
    assert_eq!(app.get("/hub/admin/usage.csv", Some(&ann)).await.status(), 403);
    let (audit, _) = hub::audit::page(&app.hub, Some("gpu.limits"), 0, 50).await.unwrap();
    assert_eq!(audit.len(), 1, "one audit row for the one change");
}
