//! The Docker spawner against the real engine and the real `ganymede/base` image.

use crate::helpers::{containers, inspect, TestApp};

#[tokio::test]
async fn a_started_server_has_limits_labels_a_private_port_and_a_home_volume() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;

    let last = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(last["ready"], true, "{last}");
    assert_eq!(last["url"], "/user/alice/");

    let ids = containers(&app.prefix);
    assert_eq!(ids.len(), 1);
    let c = inspect(&ids[0]);
    let host = &c["HostConfig"];
    assert_eq!(host["Memory"], 2048_i64 * 1024 * 1024);
    assert_eq!(host["MemorySwap"], 2048_i64 * 1024 * 1024);
    assert_eq!(host["NanoCpus"], 1_000_000_000_i64);
    assert_eq!(host["PidsLimit"], 1024);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["Privileged"], false);
    assert!(host["SecurityOpt"].to_string().contains("no-new-privileges"));
    assert_eq!(host["PortBindings"]["8888/tcp"][0]["HostIp"], "127.0.0.1");
    let labels = &c["Config"]["Labels"];
    assert_eq!(labels["org.ganymede.user"], "alice");
    assert_eq!(labels["org.ganymede.server"], "");
    assert_eq!(labels["org.ganymede.hub"], app.hub.hub_id());
    let mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1, "only the home volume: {mounts:?}");
    assert_eq!(mounts[0]["Name"], format!("{}-home-alice", app.prefix));
    assert_eq!(mounts[0]["Destination"], "/home/jovyan");
    assert!(!c.to_string().contains("docker.sock"));
    // Live usage from the engine's stats API: Jupyter's memory, within the size's 2 GiB.
    let user =
        hub::users::find(&app.hub, &hub::domain::UserName::parse("alice").unwrap()).await.unwrap().unwrap();
    // Read by the hub's background round (the first view starts one), shared by every viewer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let usage = loop {
        let usage = hub::servers::usage(&app.hub, &user).await.unwrap();
        if usage.first().is_some_and(|u| u.usage.is_some()) || std::time::Instant::now() > deadline {
            break usage;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert!(usage[0].server.is_default() && usage[0].gpus.is_empty() && usage[0].session.is_none());
    let u = usage[0].usage.as_ref().expect("the engine's stats");
    assert!(u.memory_bytes > 10 * 1024 * 1024, "JupyterLab uses some memory: {u:?}");
    assert_eq!(u.memory_limit_bytes, Some(2048 * 1024 * 1024), "{u:?}");
    assert!(u.cpu_percent >= 0.0 && u.cpu_percent <= 100.0 * 2.0, "{u:?}");
    let shown: serde_json::Value = app.server_fn("my_usage", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(shown[0]["server"], "", "{shown}");
    // The token is not in the browser's reach: Jupyter answers the proxy, which adds it.
    let status = app.get("/user/alice/api/status", Some(&session)).await;
    assert_eq!(status.status(), 200);

    // Stop: the container goes, the row says stopped.
    let stop = app.server_fn("stop_server", &[("name", "")], Some(&session)).await;
    assert_eq!(stop.status(), 200);
    assert!(containers(&app.prefix).is_empty());
    assert_eq!(app.get("/user/alice/api/status", Some(&session)).await.status(), 503);
}

#[tokio::test]
async fn work_in_the_home_volume_survives_stop_and_start() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);

    let put = app
        .http
        .put(app.url("/user/alice/api/contents/hello.txt"))
        .header("cookie", format!("{}={session}", crate::helpers::COOKIE))
        .json(&serde_json::json!({ "type": "file", "format": "text", "content": "still here" }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    app.server_fn("stop_server", &[("name", "")], Some(&session)).await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
    let got = app.get("/user/alice/api/contents/hello.txt", Some(&session)).await;
    let body: serde_json::Value = got.json().await.unwrap();
    assert_eq!(body["content"], "still here");
}

#[tokio::test]
async fn a_missing_image_fails_with_a_reason_and_leaves_nothing_running() {
    let app = TestApp::spawn_with(|c| c.flavours[0].image = "ganymede/no-such-image:latest".into()).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let last = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(last["failed"], true, "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("ganymede/no-such-image:latest is not available"),
        "{last}"
    );
    assert!(containers(&app.prefix).is_empty());
    let servers: serde_json::Value =
        app.server_fn("my_servers", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(servers[0]["status"], "stopped");
}

#[tokio::test]
async fn a_server_that_dies_during_start_is_cleaned_up() {
    // Too little memory for JupyterLab: the kernel's OOM killer ends it while it starts.
    let app = TestApp::spawn_with(|c| c.sizes[0].memory_mib = 64).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let last = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(last["failed"], true, "{last}");
    let message = last["message"].as_str().unwrap();
    assert!(message.contains("out of memory") || message.contains("exited"), "{message}");
    assert!(containers(&app.prefix).is_empty());
}

#[tokio::test]
async fn an_unreachable_engine_gives_a_clear_error() {
    let app = TestApp::spawn_with(|c| c.spawner.docker.host = "unix:///nonexistent/docker.sock".into()).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let last = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(last["failed"], true, "{last}");
    assert!(last["message"].as_str().unwrap().contains("container engine is unavailable"), "{last}");
}

#[tokio::test]
async fn concurrent_starts_of_one_server_make_one_container() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let starts = (0..6)
        .map(|_| app.server_fn("start_server", &[("flavour", "base"), ("size", "small")], Some(&session)));
    for response in futures_util::future::join_all(starts).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.final_progress(&session, "").await["ready"], true);
    assert_eq!(containers(&app.prefix).len(), 1);
}

#[tokio::test]
async fn invalid_choices_are_refused_and_start_nothing() {
    let app = TestApp::spawn_with(|c| c.servers.named_servers_limit = 1).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    for (fields, reason) in [
        (vec![("flavour", "cobol"), ("size", "small")], "no flavour \\\"cobol\\\""),
        (vec![("flavour", "base"), ("size", "huge")], "no size"),
        (vec![("flavour", "base"), ("size", "gpu-1")], "needs 1 GPU"),
        (vec![("flavour", "base"), ("size", "small"), ("name", "../bob")], "may contain only"),
        (vec![("flavour", "base"), ("size", "small"), ("name", "lab")], "reserved"),
    ] {
        let response = app.server_fn("start_server", &fields, Some(&session)).await;
        assert_eq!(response.status(), 400, "{fields:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(reason), "{fields:?}: {body}");
    }
    assert!(containers(&app.prefix).is_empty());
}

#[tokio::test]
async fn named_servers_are_limited_per_user() {
    let app = TestApp::spawn_with(|c| {
        c.servers.named_servers_limit = 1;
        c.flavours[0].image = "ganymede/no-such-image:latest".into();
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let first = app
        .server_fn("start_server", &[("flavour", "base"), ("size", "small"), ("name", "one")], Some(&session))
        .await;
    assert_eq!(first.status(), 200);
    let second = app
        .server_fn("start_server", &[("flavour", "base"), ("size", "small"), ("name", "two")], Some(&session))
        .await;
    assert_eq!(second.status(), 400);
    assert!(second.text().await.unwrap().contains("1 named servers"));
}

#[tokio::test]
async fn purging_a_user_removes_their_servers_and_home_volume() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
    let volume = format!("{}-home-alice", app.prefix);
    let exists = |name: &str| crate::helpers::docker(&["volume", "inspect", name]).status.success();
    assert!(exists(&volume));

    let alice =
        hub::users::find(&app.hub, &hub::domain::UserName::parse("alice").unwrap()).await.unwrap().unwrap();
    hub::servers::purge_user(&app.hub, None, &alice).await.unwrap();
    assert!(containers(&app.prefix).is_empty());
    assert!(!exists(&volume));
    let servers: serde_json::Value =
        app.server_fn("my_servers", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(servers, serde_json::json!([]));
}

#[tokio::test]
async fn a_server_whose_container_dies_is_noticed_and_marked_stopped() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
    let ids = containers(&app.prefix);
    let killed = crate::helpers::docker(&["kill", &ids[0]]);
    assert!(killed.status.success());

    hub::servers::poll_running(&app.hub).await.unwrap();
    let servers: serde_json::Value =
        app.server_fn("my_servers", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(servers[0]["status"], "stopped");
    assert!(app.hub.routes().get("alice", "").is_none());
    assert!(containers(&app.prefix).is_empty());
    // The proxy now offers to start it again.
    let page = app.get("/user/alice/lab", Some(&session)).await;
    assert_eq!(page.status(), 503);
    assert!(page.text().await.unwrap().contains("is not running"));
}

/// `server_log` as the dashboard and the progress page ask it.
async fn server_log(app: &TestApp, session: &str, user: &str) -> reqwest::Response {
    app.server_fn("server_log", &[("user", user), ("server", "")], Some(session)).await
}

#[tokio::test]
async fn the_owner_reads_the_log_of_a_failed_start_and_of_a_running_server_with_tokens_hidden() {
    let app = TestApp::spawn_with(|c| {
        let mut broken = c.flavours[0].clone();
        broken.id = "broken".into();
        broken.display_name = "Broken".into();
        broken.cmd = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo 'bad setting in jupyter_server_config.py' >&2; echo 'see http://x:8888/lab?token=abc123def'; exit 3"
                .into(),
        ]);
        c.flavours.push(broken);
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password").await;

    // A start that fails: its container is gone, what it printed is kept.
    let last = app.start_and_wait(&alice, "broken", "small", "").await;
    assert_eq!(last["failed"], true, "{last}");
    assert!(containers(&app.prefix).is_empty());
    let log: serde_json::Value = server_log(&app, &alice, "").await.json().await.unwrap();
    let text = log["text"].as_str().unwrap();
    assert_eq!(log["live"], false);
    assert!(text.contains("bad setting in jupyter_server_config.py"), "{log}");
    assert!(text.contains("lab?token=[hidden]") && !text.contains("abc123def"), "{log}");
    // Someone else's server's log is not there for them.
    assert_eq!(server_log(&app, &bob, "alice").await.status(), 404);

    // A running server's log comes from its container, its token hidden.
    assert_eq!(app.start_and_wait(&alice, "base", "small", "").await["ready"], true);
    let log: serde_json::Value = server_log(&app, &alice, "alice").await.json().await.unwrap();
    let text = log["text"].as_str().unwrap();
    assert_eq!(log["live"], true, "{log}");
    assert!(text.contains("Jupyter Server") || text.contains("jupyter_server"), "{text}");
    assert!(!text.contains("bad setting"), "a new start begins a new log: {text}");
    let container = containers(&app.prefix).pop().unwrap();
    let env = inspect(&container)["Config"]["Env"].clone();
    let token = env
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str()?.strip_prefix("JUPYTER_TOKEN="))
        .next()
        .expect("a plain-JupyterLab container has JUPYTER_TOKEN")
        .to_owned();
    assert!(!text.contains(&token), "the server's token is hidden");
    assert_eq!(server_log(&app, &bob, "alice").await.status(), 404);
}
