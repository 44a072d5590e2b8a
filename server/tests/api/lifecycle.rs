//! Lifecycle holes: a hub killed mid-start, workloads nobody owns, a container restarted behind the
//! hub's back, and servers that must not reach each other. Real engine, real `ganymede/base`.

use std::time::{Duration, Instant};

use crate::cli::serve;
use crate::helpers::{
    containers, inspect, random_prefix, session_cookie, wait_for, DockerCleanup, TestApp, COOKIE,
};

use crate::helpers::docker;

#[tokio::test]
async fn a_hub_killed_mid_start_leaves_no_container_running_after_it_comes_back() {
    let dir = crate::helpers::Scratch::new();
    let prefix = random_prefix("gk");
    let _cleanup = DockerCleanup(prefix.clone());
    let env = [
        ("GANYMEDE_ADMIN_USER", "alice"),
        ("GANYMEDE_ADMIN_PASSWORD", "alice-password"),
        ("GANYMEDE_SPAWNER__DOCKER__PREFIX", prefix.as_str()),
    ];
    let mut served = serve(&dir, &env);
    let http = crate::helpers::client_builder().build().unwrap();
    let base = served.base.clone();
    let login = http
        .post(format!("{base}/hub/fn/login"))
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    let session = session_cookie(login.headers()).expect("signed in");
    for name in ["", "second"] {
        let start = http
            .post(format!("{base}/hub/fn/start_server"))
            .header("cookie", format!("{COOKIE}={session}"))
            .form(&[("flavour", "base"), ("size", "small"), ("name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 200, "{}", start.text().await.unwrap_or_default());
    }
    // Both containers exist (Jupyter inside is still starting): now the hub dies.
    wait_for("both containers", Duration::from_secs(60), || containers(&prefix).len() == 2).await;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    assert_eq!(containers(&prefix).len(), 2, "the containers outlive the hub");

    let served = serve(&dir, &env);
    let base = served.base.clone();
    // Start-up settled the interrupted starts before it listened: a container is left only for a
    // server the hub calls running (one that became ready just before the kill), none for the rest.
    let user: serde_json::Value = http
        .get(format!("{base}/hub/api/users/alice"))
        .header("cookie", format!("{COOKIE}={session}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let servers = user["servers"].as_object().cloned().unwrap_or_default();
    assert!(servers.values().all(|s| s["ready"] == true && s["pending"].is_null()), "{user}");
    assert_eq!(containers(&prefix).len(), servers.len(), "containers the hub does not call running: {user}");
    assert!(servers.len() < 2, "the kill came too late to test anything: {user}");
    // And the servers start again normally.
    let start = http
        .post(format!("{base}/hub/fn/start_server"))
        .header("cookie", format!("{COOKIE}={session}"))
        .form(&[("flavour", "base"), ("size", "small"), ("name", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    wait_for("the restarted server's container", Duration::from_secs(60), || !containers(&prefix).is_empty())
        .await;
}

#[tokio::test]
async fn workloads_with_the_hubs_labels_but_no_row_are_removed_and_others_kept() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
    let owned = containers(&app.prefix);
    assert_eq!(owned.len(), 1);

    let hub_label = format!("org.ganymede.hub={}", app.hub.hub_id());
    let orphan = format!("{}-orphan", app.prefix);
    let made = docker(&[
        "run",
        "-d",
        "--name",
        &orphan,
        "--label",
        &hub_label,
        "--label",
        "org.ganymede.user=bob",
        "--label",
        "org.ganymede.server=",
        "ganymede/base:latest",
        "sleep",
        "600",
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // Another hub's container is not this hub's to remove.
    let foreign = format!("{}-foreign", app.prefix);
    let made = docker(&[
        "run",
        "-d",
        "--name",
        &foreign,
        "--label",
        "org.ganymede.hub=another-hub",
        "--label",
        "org.ganymede.user=bob",
        "ganymede/base:latest",
        "sleep",
        "600",
    ]);
    assert!(made.status.success());
    assert_eq!(containers(&app.prefix).len(), 3);

    let removed = hub::servers::sweep_orphans(&app.hub).await.unwrap();
    assert_eq!(removed, 1);
    let left = containers(&app.prefix);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().any(|id| owned[0].starts_with(id.as_str()) || id.starts_with(owned[0].as_str())));
    assert_eq!(inspect(&foreign)["Name"], format!("/{foreign}"));
    assert!(docker(&["inspect", &orphan]).stdout.starts_with(b"[]"), "the orphan is gone");
    // The running server was kept and still answers.
    assert_eq!(app.get("/user/alice/api/status", Some(&session)).await.status(), 200);
}

#[tokio::test]
async fn a_container_restarted_behind_the_hubs_back_is_followed_to_its_new_port() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
    let id = containers(&app.prefix).pop().unwrap();
    let port_of = |id: &str| inspect(id)["NetworkSettings"]["Ports"]["8888/tcp"][0]["HostPort"].clone();
    let before = port_of(&id);
    assert_eq!(app.get("/user/alice/api/status", Some(&session)).await.status(), 200);

    // Traffic keeps flowing while Docker restarts the container, and the hub follows it to its
    // new host port. Docker's allocator hands out the next free port, so a restart moves it; the
    // rare restart that keeps it proves nothing, so restart again (at most three times).
    let mut after = before.clone();
    for _ in 0..3 {
        let restart = {
            let id = id.clone();
            tokio::task::spawn_blocking(move || docker(&["restart", "-t", "2", &id]))
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut restarted = false;
        loop {
            let status = app.get("/user/alice/api/status", Some(&session)).await.status();
            if restart.is_finished() {
                restarted = true;
            }
            if restarted && status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server never answered again after its restart (last {status})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(restart.await.unwrap().status.success());
        after = port_of(&id);
        if after != before {
            break;
        }
    }
    assert_ne!(after, before, "three restarts kept the same host port: nothing was followed");
    assert_eq!(containers(&app.prefix), vec![id.clone()], "the hub kept the same container");
    let rows = hub::db::servers::in_state(app.hub.db(), hub::servers::ServerState::Running).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = rows[0].as_ref().expect("the row parses");
    assert_eq!(
        row.upstream.as_ref().map(|u| u.origin()),
        Some(format!("http://127.0.0.1:{}", after.as_str().unwrap()))
    );
}

#[tokio::test]
async fn each_server_has_a_network_of_its_own_and_cannot_reach_another() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password-1", false).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password-1").await;
    assert_eq!(app.start_and_wait(&alice, "base", "small", "").await["ready"], true);
    assert_eq!(app.start_and_wait(&bob, "base", "small", "").await["ready"], true);

    let ids = containers(&app.prefix);
    assert_eq!(ids.len(), 2);
    let pool = app.hub.config().spawner.docker.server_subnets;
    // Each container's only network: its own, made for it, with inter-container traffic off,
    // on a /28 of the configured range, and no other container on it.
    let own_network = |id: &str| {
        let c = inspect(id);
        let mode = c["HostConfig"]["NetworkMode"].as_str().expect("a network mode").to_owned();
        let name = c["Name"].as_str().unwrap().trim_start_matches('/').to_owned();
        assert_eq!(mode, format!("{name}-net"), "{c}");
        let joined = c["NetworkSettings"]["Networks"].as_object().unwrap();
        assert_eq!(joined.keys().collect::<Vec<_>>(), [&mode], "{c}");
        assert_eq!(c["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostIp"], "127.0.0.1");
        let net: serde_json::Value = serde_json::from_slice(&docker(&["network", "inspect", &mode]).stdout)
            .expect("the network is there");
        assert_eq!(net[0]["Options"]["com.docker.network.bridge.enable_icc"], "false", "{net}");
        let subnet = net[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap().to_owned();
        assert!(subnet.ends_with("/28"), "{subnet}");
        let address: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
        assert!(pool.blocks(0).any(|(a, _)| a == address), "{subnet} is not in {pool}");
        assert_eq!(net[0]["Containers"].as_object().map(|m| m.len()), Some(1), "{net}");
        let ip = joined[&mode]["IPAddress"].as_str().unwrap().to_owned();
        (mode, subnet, ip)
    };
    // Alice's container first (the engine lists them in no set order).
    let owner = |id: &str| inspect(id)["Config"]["Labels"]["org.ganymede.user"].as_str().map(str::to_owned);
    let (a, b) = match owner(&ids[0]).as_deref() {
        Some("alice") => (ids[0].clone(), ids[1].clone()),
        _ => (ids[1].clone(), ids[0].clone()),
    };
    assert_eq!(owner(&a).as_deref(), Some("alice"));
    let (net_a, subnet_a, own) = own_network(&a);
    let (net_b, subnet_b, other) = own_network(&b);
    assert_ne!(net_a, net_b);
    assert_ne!(subnet_a, subnet_b);
    // From inside one server, the other's Jupyter port (which listens on all its interfaces).
    let probe = format!(
        "import socket\ntry:\n    socket.create_connection(('{other}', 8888), timeout=3)\n    print('reached')\nexcept OSError as e:\n    print('refused', e)\n"
    );
    let out = docker(&["exec", &a, "python3", "-c", &probe]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("refused"),
        "one server reached another: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same probe against itself works, so the probe can tell the difference.
    let out = docker(&["exec", &a, "python3", "-c", &probe.replace(&other, &own)]);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("reached"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Both still answer their owners through the proxy.
    assert_eq!(app.get("/user/alice/api/status", Some(&alice)).await.status(), 200);
    assert_eq!(app.get("/user/bob/api/status", Some(&bob)).await.status(), 200);

    // A stopped server's network goes with its container.
    assert_eq!(app.server_fn("stop_server", &[("name", "")], Some(&alice)).await.status(), 200);
    let network_left = || {
        let listed = docker(&["network", "ls", "-q", "--filter", &format!("name={net_a}")]);
        assert!(listed.status.success(), "docker network ls failed");
        !String::from_utf8_lossy(&listed.stdout).trim().is_empty()
    };
    wait_for("alice's network to go", Duration::from_secs(60), || !network_left()).await;
    assert!(docker(&["network", "inspect", &net_b]).status.success(), "bob's network stays");
}
