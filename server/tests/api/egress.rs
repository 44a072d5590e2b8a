//! Where a server may connect to (`spawner.docker.egress`), probed from inside real containers:
//! the host's own listeners, the hub's API listener, and two hosts outside — a "public" address
//! and a private one — in a network namespace the test makes.

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::Duration;

use hub::config::{Egress, FlavourConfig, FlavourKind};

use crate::helpers::*;

/// The outside world, as a test host: a network namespace joined to the host by a veth pair, with
/// a public address (TEST-NET-2) and a private one, and two ports listening on both.
struct Outside {
    netns: String,
    host_link: String,
    listeners: Vec<Child>,
}

const PUBLIC: &str = "198.51.100.2";
const PRIVATE: &str = "192.168.213.2";
const OPEN_PORT: u16 = 18080;
const ALLOWED_PORT: u16 = 18081;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl Outside {
    fn make() -> Self {
        // A link left by an earlier run that was killed holds the addresses: remove it first.
        for address in ["198.51.100.1", "192.168.213.1"] {
            let out =
                Command::new("ip").args(["-o", "addr", "show", "to", address]).output().expect("ip runs");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(link) = line.split_whitespace().nth(1) {
                    let _ = Command::new("ip")
                        .args(["link", "del", link.split('@').next().unwrap_or(link)])
                        .status();
                }
            }
        }
        let tag = random_prefix("eg");
        let outside =
            Self { netns: tag.clone(), host_link: format!("vh{}", &tag[2..]), listeners: Vec::new() };
        let inner = format!("vn{}", &tag[2..]);
        ip(&["netns", "add", &outside.netns]);
        ip(&["link", "add", &outside.host_link, "type", "veth", "peer", "name", &inner]);
        ip(&["link", "set", &inner, "netns", &outside.netns]);
        ip(&["addr", "add", "198.51.100.1/30", "dev", &outside.host_link]);
        ip(&["addr", "add", "192.168.213.1/30", "dev", &outside.host_link]);
        ip(&["link", "set", &outside.host_link, "up"]);
        let netns = outside.netns.clone();
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", netns.as_str(), "ip"];
            all.extend(args);
            ip(&all);
        };
        inside(&["addr", "add", &format!("{PUBLIC}/30"), "dev", &inner]);
        inside(&["addr", "add", &format!("{PRIVATE}/30"), "dev", &inner]);
        inside(&["link", "set", &inner, "up"]);
        inside(&["link", "set", "lo", "up"]);
        let mut outside = outside;
        for port in [OPEN_PORT, ALLOWED_PORT] {
            let listener = Command::new("ip")
                .args(["netns", "exec", &outside.netns, "python3", "-m", "http.server", "--bind", "0.0.0.0"])
                .arg(port.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("a listener in the namespace");
            outside.listeners.push(listener);
        }
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for listener in &mut self.listeners {
            let _ = listener.kill();
            let _ = listener.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

/// Whether a TCP connection from inside the container to `host:port` is made, within 3 s.
fn reaches(container: &str, host: &str, port: u16) -> bool {
    let probe = format!(
        "import socket\ntry:\n    socket.create_connection(('{host}', {port}), timeout=3)\n    print('reached')\nexcept OSError as e:\n    print('refused', e)\n"
    );
    let out = docker(&["exec", container, "python3", "-c", &probe]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.starts_with("reached") || said.starts_with("refused"),
        "the probe did not run: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    said.starts_with("reached")
}

/// The gateway of the container's own network (a host address) and its `JUPYTERHUB_API_URL`.
fn gateway_and_api(container: &str) -> (String, String) {
    let c = inspect(container);
    let networks = c["NetworkSettings"]["Networks"].as_object().expect("networks").clone();
    let gateway = networks.values().next().and_then(|n| n["Gateway"].as_str()).expect("a gateway").to_owned();
    let api = c["Config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .find_map(|v| v.strip_prefix("JUPYTERHUB_API_URL="))
        .unwrap_or_default()
        .to_owned();
    (gateway, api)
}

/// The project's base image as a `jupyterhub-singleuser` flavour.
pub(crate) fn base_singleuser() -> FlavourConfig {
    FlavourConfig {
        id: "base-hub".into(),
        display_name: "base-hub".into(),
        description: String::new(),
        image: "ganymede/base:latest".into(),
        environment: None,
        icon: "book".into(),
        tags: vec![],
        sizes: vec![],
        kind: FlavourKind::JupyterhubSingleuser,
        cmd: None,
        args: vec![],
        env: BTreeMap::new(),
        user: Some("1000:1000".into()),
    }
}

/// A hub with the given policy, one person and their running single-user server's container.
async fn server_under(policy: Egress, allow: &[&str], user: &str) -> (TestApp, String) {
    let allow: Vec<hub::config::EgressTarget> = allow.iter().map(|a| a.parse().expect("a target")).collect();
    let app = TestApp::spawn_with(|c| {
        c.hub.servers_api_port = 0;
        c.flavours.push(base_singleuser());
        c.spawner.docker.egress = policy;
        c.spawner.docker.egress_allow = allow;
    })
    .await;
    app.add_user(user, "a-password-1", false).await;
    let session = app.session(user, "a-password-1").await;
    assert_eq!(app.start_and_wait(&session, "base-hub", "small", "").await["ready"], true);
    let ids = containers(&app.prefix);
    assert_eq!(ids.len(), 1, "{ids:?}");
    (app, ids[0].clone())
}

/// The subnet of the container's own network.
fn subnet_of(container: &str) -> String {
    let network = inspect(container)["HostConfig"]["NetworkMode"].as_str().expect("its network").to_owned();
    let net: serde_json::Value =
        serde_json::from_slice(&docker(&["network", "inspect", &network]).stdout).expect("the network");
    net[0]["IPAM"]["Config"][0]["Subnet"].as_str().expect("a subnet").to_owned()
}

/// Lines of our packet-filter chains that mention `subnet`.
fn rules_for(subnet: &str) -> Vec<String> {
    let mut found = Vec::new();
    for chain in ["GANYMEDE-INPUT", "GANYMEDE-FORWARD"] {
        let out = Command::new("iptables").args(["-w", "-S", chain]).output().expect("iptables runs");
        found.extend(
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(subnet)).map(str::to_owned),
        );
    }
    found
}

#[tokio::test]
async fn a_server_reaches_the_hubs_api_and_public_hosts_but_not_the_hosts_other_listeners_or_private_ones() {
    let outside = Outside::make();
    // A listener of the host's own on every address (as a database or another service would be).
    let host_listener = std::net::TcpListener::bind("0.0.0.0:0").expect("a host listener");
    let host_port = host_listener.local_addr().expect("its address").port();

    // Only the hub: not even a public address.
    let (app, id) = server_under(Egress::HubOnly, &[], "bob").await;
    let (_, api) = gateway_and_api(&id);
    assert!(!api.is_empty());
    assert!(!reaches(&id, PUBLIC, OPEN_PORT), "hub-only reached a public address");
    assert!(!reaches(&id, PRIVATE, ALLOWED_PORT), "hub-only reached a private address");
    let bob_subnet = subnet_of(&id);
    assert_eq!(rules_for(&bob_subnet).len(), 2, "{:?}", rules_for(&bob_subnet));
    // Its hub goes and the test's clean-up removes the network behind the hub's back: the
    // rules stay until the next start sweeps them.
    drop(app);

    let allowed = format!("{PRIVATE}:{ALLOWED_PORT}");
    let (app, id) = server_under(Egress::Internet, &[&allowed], "alice").await;
    assert_eq!(rules_for(&bob_subnet), Vec::<String>::new(), "a gone network's rules were not swept");
    let (gateway, api) = gateway_and_api(&id);
    let api_port: u16 = api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .and_then(|authority| authority.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("JUPYTERHUB_API_URL {api:?} names a port"));
    let api_host = api.trim_start_matches("http://").split(':').next().unwrap_or_default().to_owned();
    assert!(reaches(&id, &api_host, api_port), "the hub's API listener at {api} is blocked");
    assert!(!reaches(&id, &api_host, host_port), "another listener of the host on {api_host} was reached");
    assert!(!reaches(&id, &gateway, host_port), "the host's listener on the server's gateway was reached");
    assert!(reaches(&id, PUBLIC, OPEN_PORT), "a public address was blocked");
    assert!(!reaches(&id, PRIVATE, OPEN_PORT), "a private address was reached");
    assert!(reaches(&id, PRIVATE, ALLOWED_PORT), "egress_allow's {allowed} was blocked");
    // Its rules go with it.
    let subnet = subnet_of(&id);
    assert_eq!(rules_for(&subnet).len(), 2, "one jump per chain for {subnet}: {:?}", rules_for(&subnet));
    let alice = app.session("alice", "a-password-1").await;
    assert_eq!(app.server_fn("stop_server", &[("name", "")], Some(&alice)).await.status(), 200);
    wait_for("alice's container to go", Duration::from_secs(60), || containers(&app.prefix).is_empty()).await;
    assert_eq!(rules_for(&subnet), Vec::<String>::new(), "the stopped server's rules stayed");
    drop(app);

    // Open leaves the engine's defaults: the same probes reach the host's listener, so the ones
    // above could have failed.
    let (_app, id) = server_under(Egress::Open, &[], "carol").await;
    let (gateway, _) = gateway_and_api(&id);
    assert!(reaches(&id, &gateway, host_port), "under open the host's listener was not reached");
    assert!(reaches(&id, PRIVATE, OPEN_PORT), "under open a private address was not reached");
    drop(host_listener);
    drop(outside);
}
