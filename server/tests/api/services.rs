//! `[[services]]`: managed services run by the hub (PyPI's `jupyterhub-idle-culler` among them),
//! external ones with their own token, their scopes from `[[roles]]`, `/services/NAME/` proxied,
//! and people signing in to a service through the hub's OAuth provider.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hub::config::{RoleConfig, ServiceConfig};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, COOKIE};

pub(crate) fn venv_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/jupyter-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `scripts/setup.sh test venv` (it installs jupyterhub-idle-culler too)",
        python.display()
    );
    std::path::absolute(&python).expect("absolute path")
}

pub(crate) fn service(name: &str) -> ServiceConfig {
    ServiceConfig {
        name: name.into(),
        url: None,
        api_token: None,
        command: Vec::new(),
        cwd: None,
        environment: Default::default(),
        info: Default::default(),
        display: true,
        oauth_no_confirm: false,
    }
}

pub(crate) fn role(name: &str, scopes: &[&str], services: &[&str], users: &[&str]) -> RoleConfig {
    RoleConfig {
        name: name.into(),
        description: String::new(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        users: users.iter().map(|s| (*s).to_owned()).collect(),
        groups: Vec::new(),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
    }
}

async fn wait_for<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const EXTERNAL_TOKEN: &str = "external-service-token-0123456789";

/// A managed service gets its token and the API's address in its environment, is who its token
/// says (`GET /hub/api/user` answers the service model with its role's scopes), has exactly
/// those scopes, and is started again when it exits.
#[tokio::test]
async fn a_managed_service_gets_its_environment_and_token_and_is_restarted_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_owned();
    let script = r#"
import json, os, sys, urllib.request
out = sys.argv[1]
env = {k: v for k, v in os.environ.items() if k.startswith("JUPYTERHUB_")}
req = urllib.request.Request(env["JUPYTERHUB_API_URL"] + "/user",
                             headers={"Authorization": "token " + env["JUPYTERHUB_API_TOKEN"]})
me = json.load(urllib.request.urlopen(req))
try:
    urllib.request.urlopen(urllib.request.Request(env["JUPYTERHUB_API_URL"] + "/groups",
        headers={"Authorization": "token " + env["JUPYTERHUB_API_TOKEN"]}))
    groups = 200
except urllib.error.HTTPError as e:
    groups = e.code
with open(os.path.join(out, "runs"), "a") as f:
    f.write(json.dumps({"env": env, "me": me, "groups": groups}) + "\n")
sys.exit(3)
"#;
    let script_path = out.join("service.py");
    std::fs::write(&script_path, script).unwrap();
    let python = venv_python();
    let app = TestApp::spawn_with(|c| {
        let mut s = service("reporter");
        s.command =
            vec![python.display().to_string(), script_path.display().to_string(), out.display().to_string()];
        c.services.push(s);
        c.roles.push(role("reporting", &["list:users", "read:users:activity"], &["reporter"], &[]));
    })
    .await;
    let runs_file = out.join("runs");
    let runs: Vec<Value> = wait_for("two runs of the service", Duration::from_secs(30), async || {
        let text = std::fs::read_to_string(&runs_file).unwrap_or_default();
        let runs: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (runs.len() >= 2).then_some(runs)
    })
    .await;
    let first = &runs[0];
    let env = &first["env"];
    assert_eq!(env["JUPYTERHUB_SERVICE_NAME"], "reporter");
    assert_eq!(env["JUPYTERHUB_API_URL"], format!("{}/hub/api", app.base));
    assert_eq!(env["JUPYTERHUB_SERVICE_PREFIX"], "/services/reporter/");
    assert_eq!(env["JUPYTERHUB_CLIENT_ID"], "service-reporter");
    assert!(env["JUPYTERHUB_API_TOKEN"].as_str().unwrap().len() >= 32, "{env}");
    let me = &first["me"];
    assert_eq!(me["kind"], "service", "{me}");
    assert_eq!(me["name"], "reporter");
    assert_eq!(me["roles"], serde_json::json!(["reporting"]));
    let scopes: Vec<&str> = me["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(scopes.contains(&"list:users") && scopes.contains(&"read:users:activity"), "{scopes:?}");
    assert!(!scopes.iter().any(|s| s.starts_with("admin")), "{scopes:?}");
    assert_eq!(first["groups"], 403, "a scope its role does not grant is refused");
    // The same token the second time (the hub's secret and the service's name make it).
    assert_eq!(runs[1]["env"]["JUPYTERHUB_API_TOKEN"], env["JUPYTERHUB_API_TOKEN"]);
    drop(app);
}

/// PyPI's `jupyterhub-idle-culler`, unchanged, as the managed service `idle-culler` run with
/// `args`, and a role of exactly the culler's scopes plus `extra_scopes`.
pub(crate) fn pypi_culler(c: &mut hub::config::Config, args: &[&str], extra_scopes: &[&str]) {
    let mut s = service("idle-culler");
    s.command = [venv_python().display().to_string(), "-m".into(), "jupyterhub_idle_culler".into()]
        .into_iter()
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect();
    c.services.push(s);
    let mut scopes = vec!["list:users", "read:users:activity", "read:servers", "delete:servers"];
    scopes.extend_from_slice(extra_scopes);
    c.roles.push(role("idle-culler", &scopes, &["idle-culler"], &[]));
}

/// The idle culler from PyPI, unchanged, as a managed service with a role of exactly its scopes:
/// it stops a server nobody uses, and the audit log says who did.
#[tokio::test]
async fn pypis_idle_culler_as_a_managed_service_culls_an_idle_server() {
    let app = TestApp::spawn_with(|c| pypi_culler(c, &["--timeout=8", "--cull-every=2"], &[])).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
    let started = Instant::now();
    wait_for("the culler to stop alice's idle server", Duration::from_secs(90), async || {
        let user: Value = app.get("/hub/api/users/alice", Some(&session)).await.json().await.ok()?;
        let servers = user["servers"].as_object()?;
        servers.is_empty().then_some(())
    })
    .await;
    assert!(started.elapsed() >= Duration::from_secs(5), "culled before it was idle for its timeout");
    let (events, _) = hub::audit::page(&app.hub, Some("server.stop"), 0, 50).await.unwrap();
    let stop = events
        .iter()
        .find(|e| e.action == "server.stop" && e.target.as_deref().is_some_and(|t| t.starts_with("alice")))
        .unwrap_or_else(|| panic!("no stop of alice's server in the audit log: {events:?}"));
    assert_eq!(stop.actor.as_deref(), Some("service:idle-culler"), "{stop:?}");
}

/// The same culler with `--cull-users`, `--remove-named-servers` and pages of two users
/// (`--api-page-size`): an idle named server is stopped and removed, idle users are deleted over
/// every page, the admin stays (`--cull-admin-users=False`), and the audit log names the service.
#[tokio::test]
async fn pypis_idle_culler_culls_named_servers_and_idle_users_over_pages() {
    let args = [
        "--timeout=8",
        "--cull-every=2",
        "--cull-users=True",
        "--remove-named-servers=True",
        "--cull-admin-users=False",
        "--api-page-size=2",
    ];
    let app = TestApp::spawn_with(|c| pypi_culler(c, &args, &["admin:users"])).await;
    app.add_user("root", "root-password", true).await;
    let root = app.session("root", "root-password").await;
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        app.add_user(name, &format!("{name}-password"), false).await;
    }
    let alice_session = {
        app.add_user("alice", "alice-password", false).await;
        app.session("alice", "alice-password").await
    };
    assert_eq!(app.start_and_wait(&alice_session, "base", "small", "nb").await["ready"], true);

    wait_for("the culler to remove the idle users", Duration::from_secs(120), async || {
        let users: Value = app.get("/hub/api/users", Some(&root)).await.json().await.ok()?;
        let names: Vec<&str> = users.as_array()?.iter().filter_map(|u| u["name"].as_str()).collect();
        (names == ["root"]).then_some(())
    })
    .await;
    let (events, _) = hub::audit::page(&app.hub, None, 0, 200).await.unwrap();
    let by_culler = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action && e.actor.as_deref() == Some("service:idle-culler"))
            .count()
    };
    assert_eq!(
        by_culler("user.delete"),
        6,
        "five idle users and alice, whose named server went first: {events:?}"
    );
    assert!(by_culler("server.stop") >= 1, "{events:?}");
    assert_eq!(by_culler("server.delete"), 1, "the named server was removed: {events:?}");
    assert!(crate::helpers::containers(&app.prefix).is_empty(), "nothing left running");
}

/// The echo service: a real HTTP and websocket server (tornado, from the test venv) that echoes
/// what it was sent, on a free port.
fn echo_service() -> (tokio::process::Child, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let echo = r#"
import json, sys
import tornado.ioloop, tornado.web, tornado.websocket
class Echo(tornado.web.RequestHandler):
    def get(self, _):
        self.write({"path": self.request.uri, "cookie": self.request.headers.get("Cookie", "")})
class Socket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True
    def open(self):
        self.write_message(json.dumps({"cookie": self.request.headers.get("Cookie", "")}))
    def on_message(self, message):
        self.write_message("echo:" + message)
tornado.web.Application([(r"/services/echo/ws", Socket), (r"(.*)", Echo)]).listen(int(sys.argv[1]), "127.0.0.1")
tornado.ioloop.IOLoop.current().start()
"#;
    let child = tokio::process::Command::new(venv_python())
        .args(["-c", echo, &port.to_string()])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, port)
}

/// The service API lists what the caller may see, as a map by name; an external service's own
/// token works; `/services/NAME/` reaches the service (HTTP and websockets) with the path unchanged
/// and without the hub's cookie; people sign in to it through the OAuth provider when a role gives them access.
#[tokio::test]
async fn an_external_service_is_listed_proxied_and_signed_in_to_through_the_hub() {
    let (mut child, port) = echo_service();
    let app = TestApp::spawn_with(|c| {
        let mut s = service("echo");
        s.url = Some(format!("http://127.0.0.1:{port}"));
        s.api_token = Some(EXTERNAL_TOKEN.into());
        s.info = [("course".to_owned(), "101".to_owned())].into();
        c.services.push(s);
        c.roles.push(role("echo-users", &["access:services!service=echo"], &[], &["bob"]));
        c.roles.push(role("echo-self", &["read:users:name"], &["echo"], &[]));
    })
    .await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let root = app.session("root", "root-password").await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password").await;

    // Listed for an admin, as a map by name, with its model.
    let listed: Value = app.get("/hub/api/services", Some(&root)).await.json().await.unwrap();
    let echo_model = &listed["echo"];
    assert_eq!(echo_model["name"], "echo", "{listed}");
    assert_eq!(echo_model["prefix"], "/services/echo/");
    assert_eq!(echo_model["url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(echo_model["info"]["course"], "101");
    assert_eq!(echo_model["roles"], serde_json::json!(["echo-self"]));
    assert_eq!(app.get("/hub/api/services/echo", Some(&root)).await.status(), 200);
    assert_eq!(app.get("/hub/api/services/nobody", Some(&root)).await.status(), 404);
    // Not for a user without list:services.
    assert_eq!(app.get("/hub/api/services", Some(&alice)).await.status(), 403);
    // The service's own token is the service.
    let me: Value = app.api_get("/hub/api/user", EXTERNAL_TOKEN).await.json().await.unwrap();
    assert_eq!(me["kind"], "service", "{me}");
    assert_eq!(me["name"], "echo");
    assert_eq!(app.api_get("/hub/api/users", EXTERNAL_TOKEN).await.status(), 403);
    assert_eq!(app.api_get("/hub/api/user", "external-service-token-wrong000").await.status(), 403);

    // Proxied with the path unchanged; the hub's session cookie stays behind.
    let seen: Value = wait_for("the echo service", Duration::from_secs(20), async || {
        let r = app
            .http
            .get(app.url("/services/echo/some/path?x=1"))
            .header("cookie", format!("{COOKIE}={alice}; theirs=1"))
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    })
    .await;
    assert_eq!(seen["path"], "/services/echo/some/path?x=1");
    assert_eq!(seen["cookie"], "theirs=1");
    let bare = app.get("/services/echo", None).await;
    assert!(bare.status().is_redirection());
    assert_eq!(bare.headers()["location"], "/services/echo/");
    assert_eq!(app.get("/services/nobody/", None).await.status(), 404);

    // A websocket to the service is relayed both ways, without the hub's cookie; one opened by
    // another site's page is refused.
    let socket = |origin: Option<&str>| {
        let mut request =
            app.url("/services/echo/ws").replace("http://", "ws://").into_client_request().unwrap();
        request.headers_mut().insert("cookie", format!("{COOKIE}={alice}; theirs=1").parse().unwrap());
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    let (mut ws, _) = socket(None).await.expect("a websocket to the service");
    let hello: Value = serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(hello["cookie"], "theirs=1", "{hello}");
    ws.send(Message::text("ping-1")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().to_text().unwrap(), "echo:ping-1");
    ws.close(None).await.unwrap();
    match socket(Some("http://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("another site's websocket was not refused: {:?}", other.map(|_| ())),
    }

    // Signing in to the service: alice has no access:services on it, bob has (his role).
    let callback = "/services/echo/oauth_callback";
    let authorize = format!(
        "/hub/api/oauth2/authorize?client_id=service-echo&redirect_uri={}&response_type=code&state=s1",
        urlencoding(callback)
    );
    assert_eq!(app.get(&authorize, Some(&alice)).await.status(), 403);
    let consent = app.get(&authorize, Some(&bob)).await;
    assert_eq!(consent.status(), 200);
    assert!(consent.text().await.unwrap().contains("the service echo"));
    let agreed =
        app.http.post(app.url(&authorize)).header("cookie", format!("{COOKIE}={bob}")).send().await.unwrap();
    assert!(agreed.status().is_redirection(), "{}", agreed.status());
    let location = agreed.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{callback}?code=")), "{location}");
    assert!(location.ends_with("&state=s1"), "{location}");
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let exchange = |secret: &'static str, code: String| {
        app.http.post(app.url("/hub/api/oauth2/token")).form(&[
            ("client_id", "service-echo"),
            ("client_secret", secret),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", callback),
        ])
    };
    // Another secret is not the service's (RFC 6749: 401 invalid_client).
    let wrong = exchange("external-service-token-wrong000", code.clone()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let issued: Value = exchange(EXTERNAL_TOKEN, code).send().await.unwrap().json().await.unwrap();
    let access_token = issued["access_token"].as_str().unwrap_or_else(|| panic!("{issued}")).to_owned();
    let who: Value = app.api_get("/hub/api/user", &access_token).await.json().await.unwrap();
    assert_eq!(who["name"], "bob", "{who}");
    let scopes: Vec<&str> = who["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(scopes.contains(&"access:services!service=echo"), "{scopes:?}");
    let _ = child.kill().await;
}

/// A service's own token reaches, through the proxy, the servers its roles grant `access:servers`
/// on (here: alice's, by a `!user=` filter) and no other.
#[tokio::test]
async fn a_services_token_reaches_through_the_proxy_only_the_servers_its_roles_grant() {
    let app = TestApp::spawn_with(|c| {
        let mut s = service("grader");
        s.api_token = Some(EXTERNAL_TOKEN.into());
        c.services.push(s);
        c.roles.push(role("grades-alice", &["access:servers!user=alice"], &["grader"], &[]));
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password-1", false).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password-1").await;
    assert_eq!(app.start_and_wait(&alice, "base", "small", "").await["ready"], true);
    assert_eq!(app.start_and_wait(&bob, "base", "small", "").await["ready"], true);

    let status: Value = app.api_get("/user/alice/api/status", EXTERNAL_TOKEN).await.json().await.unwrap();
    assert!(status.get("kernels").is_some(), "Jupyter's own answer: {status}");
    assert_eq!(app.api_get("/user/bob/api/status", EXTERNAL_TOKEN).await.status(), 403);
    assert_eq!(app.api_get("/user/nobody/api/status", EXTERNAL_TOKEN).await.status(), 403);
    assert_eq!(app.api_get("/user/alice/api/status", "external-service-token-wrong000").await.status(), 403);
    // Its owner still gets in, with her cookie.
    assert_eq!(app.get("/user/alice/api/status", Some(&alice)).await.status(), 200);
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A websocket a signed-in person opened to a service ends when their access to it (a role by
/// group) or their session ends; the hub's cookie still never reaches the service.
#[tokio::test]
async fn a_persons_websocket_to_a_service_closes_when_their_access_or_session_ends() {
    let (mut child, port) = echo_service();
    let app = TestApp::spawn_with(|c| {
        let mut s = service("echo");
        s.url = Some(format!("http://127.0.0.1:{port}"));
        s.api_token = Some(EXTERNAL_TOKEN.into());
        c.services.push(s);
        let mut echoers = role("echo-users", &["access:services!service=echo"], &[], &[]);
        echoers.groups = vec!["echoers".into()];
        c.roles.push(echoers);
    })
    .await;
    app.add_user("bob", "bob-password", false).await;
    let bob_user =
        hub::users::find(&app.hub, &hub::domain::UserName::parse("bob").unwrap()).await.unwrap().unwrap();
    let echoers = hub::domain::GroupName::parse("echoers").unwrap();
    hub::groups::create(&app.hub, None, &echoers, std::slice::from_ref(&bob_user)).await.unwrap();
    let bob = app.session("bob", "bob-password").await;

    let open = |session: String| {
        let mut request =
            app.url("/services/echo/ws").replace("http://", "ws://").into_client_request().unwrap();
        request.headers_mut().insert("cookie", format!("{COOKIE}={session}").parse().unwrap());
        async move {
            let (mut ws, _) =
                tokio_tungstenite::connect_async(request).await.expect("a websocket to the service");
            let hello: Value =
                serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
            assert_eq!(hello["cookie"], "", "the hub's cookie reached the service: {hello}");
            ws.send(Message::text("ping")).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap().to_text().unwrap(), "echo:ping");
            ws
        }
    };
    // Ended: the proxy closes it (a close frame, or the stream simply ends) within a few seconds.
    async fn closes(
        ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
        why: &str,
    ) {
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the websocket stayed open after {why}");
    }

    // Wait for the service to listen.
    wait_for("the echo service", Duration::from_secs(20), async || {
        app.get("/services/echo/x", None).await.status().is_success().then_some(())
    })
    .await;

    // Bob's access comes from his group: leaving it ends the websocket he opened.
    let mut ws = open(bob.clone()).await;
    hub::groups::change_members(&app.hub, None, "echoers", std::slice::from_ref(&bob_user), false)
        .await
        .unwrap();
    closes(&mut ws, "bob left the group that gave him access").await;

    // Back in the group, a new one works until he signs out.
    hub::groups::change_members(&app.hub, None, "echoers", std::slice::from_ref(&bob_user), true)
        .await
        .unwrap();
    let mut ws = open(bob.clone()).await;
    // A change that is not his leaves it open.
    app.add_user("carol", "carol-password", false).await;
    let carol_user =
        hub::users::find(&app.hub, &hub::domain::UserName::parse("carol").unwrap()).await.unwrap().unwrap();
    hub::groups::change_members(&app.hub, None, "echoers", std::slice::from_ref(&carol_user), true)
        .await
        .unwrap();
    ws.send(Message::text("still")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().to_text().unwrap(), "echo:still");
    assert!(app.get("/hub/logout", Some(&bob)).await.status().is_redirection());
    closes(&mut ws, "bob signed out").await;
    let _ = child.kill().await;
}

/// Two hub processes on one database run a managed service once between them; when the one that
/// runs it is killed (`kill -9`), its service dies with it and the other takes the lease over
/// (a holder whose process is gone does not keep it) and starts the service.
#[tokio::test]
async fn a_managed_service_runs_once_across_two_hubs_and_moves_when_its_hub_is_killed() {
    let dir = crate::helpers::Scratch::new();
    let out = dir.path().join("runs");
    let script = dir.path().join("service.py");
    std::fs::write(
        &script,
        "import json, os, sys, time\n\
         with open(sys.argv[1], 'a') as f:\n    \
             f.write(json.dumps({'api': os.environ['JUPYTERHUB_API_URL'], 'pid': os.getpid()}) + '\\n')\n\
         while True:\n    time.sleep(1)\n",
    )
    .unwrap();
    let config = dir.path().join("ganymede.toml");
    std::fs::write(
        &config,
        format!(
            "[[services]]\nname = \"single\"\ncommand = [{:?}, {:?}, {:?}]\n",
            venv_python().display().to_string(),
            script.display().to_string(),
            out.display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let runs = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a run line"))
            .collect()
    };
    let alive = |pid: i64| std::path::Path::new(&format!("/proc/{pid}")).exists();

    let mut first = crate::cli::serve(&dir, &[("GANYMEDE_CONFIG", &config)]);
    let started: Vec<Value> =
        wait_for("the first hub to start the service", Duration::from_secs(30), async || {
            let runs = runs();
            (!runs.is_empty()).then_some(runs)
        })
        .await;
    assert_eq!(started[0]["api"], format!("{}/hub/api", first.base), "{started:?}");
    let second = crate::cli::serve(&dir, &[("GANYMEDE_CONFIG", &config)]);
    // The second hub tries at once and finds the lease held.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs().len(), 1, "both hubs run the service: {:?}", runs());

    first.child.kill().expect("kill -9 the first hub");
    let _ = first.child.wait();
    let first_pid = started[0]["pid"].as_i64().unwrap();
    wait_for("the killed hub's service to die with it", Duration::from_secs(10), async || {
        (!alive(first_pid)).then_some(())
    })
    .await;
    // The second hub retries every 15 s and takes over from the dead holder at once.
    let moved: Vec<Value> =
        wait_for("the second hub to take the service over", Duration::from_secs(40), async || {
            let runs = runs();
            (runs.len() >= 2).then_some(runs)
        })
        .await;
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert_eq!(moved[1]["api"], format!("{}/hub/api", second.base), "{moved:?}");
    assert!(alive(moved[1]["pid"].as_i64().unwrap()), "the taken-over service is not running");
    drop(second);
}
