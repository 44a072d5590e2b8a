//! Lifecycle faults with real parts: an engine that refuses a stop (the hub talks to the real
//! engine through a unix-socket forwarder the test switches off), a hub killed by SIGKILL while a
//! stop is in flight or while servers run, and a server row corrupted in the database. Real
//! engine, real `ganymede/base`, the real `ganymede` binary where the hub must die.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch};

use crate::cli::{ganymede, run_with_stdin};
use crate::helpers::{
    containers, inspect, labels, random_prefix, session_cookie, try_inspect, DockerCleanup, Scratch, TestApp,
    COOKIE,
};

const ENGINE: &str = "/var/run/docker.sock";

/// What the forwarder does with the hub's engine traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Copies both ways.
    Open,
    /// Drops every connection, open ones included: the engine is unreachable.
    Refuse,
    /// Keeps connections but holds each request from the hub until the mode changes.
    Hold,
    /// Holds only the requests whose first line contains this (e.g. `/start `), until the mode
    /// changes; the rest pass.
    HoldMatching(&'static str),
}

/// A unix socket that forwards to the real engine's, on a thread (and runtime) of its own so a
/// test blocked on a child process does not stall it.
struct Forwarder {
    path: PathBuf,
    mode: watch::Sender<Mode>,
    /// The first line of every request held in [`Mode::Hold`].
    held: Arc<Mutex<Vec<String>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    fn start(path: PathBuf) -> Self {
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("forwarder socket");
        listener.set_nonblocking(true).unwrap();
        let (mode, modes) = watch::channel(Mode::Open);
        let held = Arc::new(Mutex::new(Vec::new()));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn({
            let held = held.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::UnixListener::from_std(listener).unwrap();
                    let accept = async {
                        loop {
                            let Ok((client, _)) = listener.accept().await else { continue };
                            let mode = *modes.borrow();
                            if mode == Mode::Refuse {
                                drop(client);
                                continue;
                            }
                            tokio::spawn(pipe(client, modes.clone(), held.clone()));
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stopped => {}
                    }
                });
            }
        });
        Self { path, mode, held, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// `unix:///…`: what `spawner.docker.host` should say.
    fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    fn held(&self) -> Vec<String> {
        self.held.lock().unwrap().clone()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One client connection, copied both ways under the forwarder's mode.
async fn pipe(client: UnixStream, mut modes: watch::Receiver<Mode>, held: Arc<Mutex<Vec<String>>>) {
    let Ok(engine) = UnixStream::connect(ENGINE).await else { return };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_engine, mut to_engine) = engine.into_split();
    let mut gate = modes.clone();
    let upward = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from_client.read(&mut buf).await?;
            if n == 0 {
                return to_engine.shutdown().await;
            }
            let mode = *gate.borrow_and_update();
            let first = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned();
            let hold = match mode {
                Mode::Hold => true,
                Mode::HoldMatching(part) => first.contains(part),
                Mode::Open | Mode::Refuse => false,
            };
            if hold {
                held.lock().unwrap().push(first);
                if gate.wait_for(|m| *m != mode).await.is_err() {
                    return Ok(());
                }
            }
            let mode = *gate.borrow();
            if mode == Mode::Refuse {
                return Ok(());
            }
            to_engine.write_all(&buf[..n]).await?;
        }
    };
    let downward = tokio::io::copy(&mut from_engine, &mut to_client);
    let refused = async move {
        let _ = modes.wait_for(|m| *m == Mode::Refuse).await;
    };
    tokio::select! {
        _ = async { tokio::join!(upward, downward) } => {}
        _ = refused => {}
    }
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The real `ganymede serve` whose log lines are kept (all of them, read on a thread of their own).
pub(crate) struct HubProcess {
    child: Child,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl HubProcess {
    pub(crate) fn start(dir: &Scratch, env: &[(&str, &str)]) -> Self {
        Self::start_bin(ganymede(dir), env)
    }

    /// `serve` with `cmd` (a `ganymede` command of some build, its environment set).
    pub(crate) fn start_bin(mut cmd: std::process::Command, env: &[(&str, &str)]) -> Self {
        cmd.arg("serve")
            .env("GANYMEDE_HUB__BIND", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (listening, base) = mpsc::channel();
        std::thread::spawn({
            let lines = lines.clone();
            move || {
                for line in stdout.lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let _ = listening.send(format!("http://{}", rest.split_whitespace().next().unwrap()));
                    }
                    lines.lock().unwrap().push(line);
                }
            }
        });
        let base = base.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            panic!("the hub did not start: {:?}", lines.lock().unwrap());
        });
        Self { child, base, lines }
    }

    pub(crate) fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// SIGTERM, then waits (at most `limit`) for the process to exit; its exit status.
    pub(crate) fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let began = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                began.elapsed() < limit,
                "the hub did not exit within {limit:?} of SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, and waits until the process is gone.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed-in person talking to a hub (the process may change; the session stays in the database).
#[derive(Clone)]
pub(crate) struct Person {
    pub http: reqwest::Client,
    pub base: String,
    name: String,
    pub session: String,
}

impl Person {
    pub(crate) async fn sign_in(base: &str, name: &str, password: &str) -> Self {
        let http = crate::helpers::client_builder().build().unwrap();
        let login = http
            .post(format!("{base}/hub/fn/login"))
            .form(&[("username", name), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "sign-in of {name}");
        let session = session_cookie(login.headers()).expect("a session cookie");
        Self { http, base: base.to_owned(), name: name.to_owned(), session }
    }

    pub(crate) fn on(&self, hub: &HubProcess) -> Self {
        Self { base: hub.base.clone(), ..self.clone() }
    }

    async fn send(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", format!("{COOKIE}={}", self.session))
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path).await
    }

    async fn server_fn(&self, name: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/hub/fn/{name}", self.base))
            .header("cookie", format!("{COOKIE}={}", self.session))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Starts the default server from the dashboard and follows its progress to the end.
    pub(crate) async fn start_and_wait(&self) -> Value {
        let start =
            self.server_fn("start_server", &[("flavour", "base"), ("size", "small"), ("name", "")]).await;
        assert_eq!(start.status(), 200, "{}", start.text().await.unwrap_or_default());
        let progress = self.get(&format!("/hub/api/users/{}/server/progress", self.name)).await;
        assert_eq!(progress.status(), 200);
        let body = tokio::time::timeout(Duration::from_secs(180), progress.text())
            .await
            .expect("progress ends")
            .unwrap();
        let last = body.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().expect("an event");
        serde_json::from_str(last).unwrap()
    }

    /// The REST User model of `user` (200 expected).
    pub(crate) async fn user(&self, user: &str) -> Value {
        let response = self.get(&format!("/hub/api/users/{user}")).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn my_servers(&self) -> Value {
        let response = self.server_fn("my_servers", &[]).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub(crate) async fn proxy_status(&self) -> u16 {
        self.get(&format!("/user/{}/api/status", self.name)).await.status().as_u16()
    }
}

/// The container of `user`'s default server among `prefix`'s, by its label.
fn container_of(prefix: &str, user: &str) -> Option<String> {
    containers(prefix).into_iter().find(|id| labels(id)["org.ganymede.user"] == user)
}

fn exists(container: &str) -> bool {
    try_inspect(container).is_some()
}

// ---------------------------------------------------------------------------------------------
// 1. An engine stop that fails.

/// A hub (in this process) on the forwarder, with failed stops due again after one second, and
/// alice's default server running.
async fn app_behind(forwarder: &Forwarder) -> (TestApp, String, String) {
    let host = forwarder.host();
    let app = TestApp::spawn_with(|c| {
        c.spawner.docker.host = host;
        c.servers.stop_retry_seconds = 1;
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let done = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(done["ready"], true, "{done}");
    let ids = containers(&app.prefix);
    assert_eq!(ids.len(), 1);
    assert_eq!(app.get("/user/alice/api/status", Some(&session)).await.status(), 200);
    (app, session, ids[0].clone())
}

async fn stop_through_the_api(app: &TestApp, session: &str) -> reqwest::Response {
    app.http
        .delete(app.url("/hub/api/users/alice/server"))
        .header("cookie", format!("{COOKIE}={session}"))
        .send()
        .await
        .unwrap()
}

/// The refused stop: 503 with the reason, the row `stopping` with the error on the dashboard and
/// the admin page, no route, the container still there.
async fn assert_stuck_stopping(app: &TestApp, session: &str, admin: &str, container: &str) {
    let stop = stop_through_the_api(app, session).await;
    assert_eq!(stop.status(), 503);
    let body: Value = stop.json().await.unwrap();
    assert_eq!(body["status"], 503);
    assert!(body["message"].as_str().unwrap().contains("could not be stopped and stays stopping"), "{body}");

    let me: Value = app.get("/hub/api/users/alice", Some(session)).await.json().await.unwrap();
    let server = &me["servers"][""];
    assert_eq!(server["stopped"], false, "{me}");
    assert_eq!(server["ready"], false, "{me}");
    assert_eq!(server["pending"], "stop", "{me}");

    let mine: Value = app.server_fn("my_servers", &[], Some(session)).await.json().await.unwrap();
    assert_eq!(mine[0]["status"], "stopping", "{mine}");
    let error = mine[0]["last_error"].as_str().expect("the dashboard shows why");
    assert!(!error.is_empty(), "{mine}");

    let listing = app
        .server_fn(
            "admin_users",
            &[
                ("search", "alice"),
                ("sort", "name"),
                ("active_only", "false"),
                ("page", "0"),
                ("page_size", "50"),
            ],
            Some(admin),
        )
        .await;
    assert_eq!(listing.status(), 200);
    let listing: Value = listing.json().await.unwrap();
    let row = &listing["users"][0]["servers"][0];
    assert_eq!(row["status"], "stopping", "{listing}");
    assert_eq!(row["last_error"], error, "the admin page shows the same error: {listing}");

    assert!(app.hub.routes().get("alice", "").is_none(), "a stopping server is not routed");
    assert_eq!(app.get("/user/alice/api/status", Some(session)).await.status(), 503);
    assert!(exists(container), "the container outlives the refused stop");
    assert_eq!(inspect(container)["State"]["Running"], true);
}

async fn assert_stopped_and_gone(app: &TestApp, session: &str, container: &str) {
    let mine: Value = app.server_fn("my_servers", &[], Some(session)).await.json().await.unwrap();
    assert_eq!(mine[0]["status"], "stopped", "{mine}");
    assert_eq!(mine[0]["last_error"], Value::Null, "{mine}");
    let me: Value = app.get("/hub/api/users/alice", Some(session)).await.json().await.unwrap();
    assert_eq!(me["servers"], serde_json::json!({}), "{me}");
    assert!(!exists(container), "the container is gone");
    assert!(containers(&app.prefix).is_empty(), "{:?}", containers(&app.prefix));
}

/// How many audit rows `action` has.
async fn events(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE action = $1")
        .bind(action)
        .fetch_one(app.hub.db())
        .await
        .unwrap()
}

async fn admin_session(app: &TestApp) -> String {
    app.add_user("root", "root-password", true).await;
    app.session("root", "root-password").await
}

#[tokio::test]
async fn a_stop_the_engine_refuses_stays_stopping_with_its_error_and_the_next_stop_request_finishes_it() {
    let sock = tempfile::tempdir().unwrap();
    let forwarder = Forwarder::start(sock.path().join("docker.sock"));
    let (app, session, container) = app_behind(&forwarder).await;
    let admin = admin_session(&app).await;

    forwarder.set(Mode::Refuse);
    assert_stuck_stopping(&app, &session, &admin, &container).await;
    // Still refused: a second request fails the same way and changes nothing.
    assert_eq!(stop_through_the_api(&app, &session).await.status(), 503);
    assert!(exists(&container));

    forwarder.set(Mode::Open);
    let stop = stop_through_the_api(&app, &session).await;
    assert_eq!(stop.status(), 204, "{}", stop.text().await.unwrap_or_default());
    assert_stopped_and_gone(&app, &session, &container).await;
    // And it starts again.
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
}

#[tokio::test]
async fn a_stop_the_engine_refuses_is_retried_by_reconcile_once_the_engine_answers() {
    let sock = tempfile::tempdir().unwrap();
    let forwarder = Forwarder::start(sock.path().join("docker.sock"));
    let (app, session, container) = app_behind(&forwarder).await;
    let admin = admin_session(&app).await;

    forwarder.set(Mode::Refuse);
    assert_stuck_stopping(&app, &session, &admin, &container).await;
    // While the engine refuses, due retries fail and the row stays as it is.
    tokio::time::sleep(Duration::from_millis(1100)).await; // past servers.stop_retry_seconds
    let reconciled = hub::servers::reconcile(&app.hub).await.unwrap();
    assert!(reconciled.ran);
    assert_eq!(reconciled.settled, 0, "{reconciled:?}");
    assert!(events(&app, "server.stop_failed").await >= 2, "reconcile tried the due stop again");
    let mine: Value = app.server_fn("my_servers", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(mine[0]["status"], "stopping", "{mine}");
    assert!(exists(&container));

    forwarder.set(Mode::Open);
    // The next due retry stops it (the periodic reconcile may be the one that gets there first).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reconciled = hub::servers::reconcile(&app.hub).await.unwrap();
        let row =
            hub::db::servers::in_state(app.hub.db(), hub::servers::ServerState::Stopping).await.unwrap();
        if row.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "reconcile never retried the stop: {reconciled:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_stopped_and_gone(&app, &session, &container).await;
    assert_eq!(events(&app, "server.stopped").await, 1);
}

// ---------------------------------------------------------------------------------------------
// 2. and 3. The hub killed with SIGKILL.

fn hub_env<'a>(prefix: &'a str, host: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("GANYMEDE_ADMIN_USER", "alice"),
        ("GANYMEDE_ADMIN_PASSWORD", "alice-password"),
        ("GANYMEDE_SPAWNER__DOCKER__PREFIX", prefix),
        ("GANYMEDE_SPAWNER__DOCKER__HOST", host),
    ]
}

#[tokio::test]
async fn a_hub_killed_during_a_stop_finishes_the_stop_when_it_comes_back() {
    let dir = Scratch::new();
    let forwarder = Forwarder::start(dir.path().join("docker.sock"));
    let host = forwarder.host();
    let prefix = random_prefix("gs");
    let _cleanup = DockerCleanup(prefix.clone());
    let env = hub_env(&prefix, &host);
    let mut served = HubProcess::start(&dir, &env);
    let alice = Person::sign_in(&served.base, "alice", "alice-password").await;
    assert_eq!(alice.start_and_wait().await["ready"], true);
    let container = containers(&prefix).pop().expect("the server's container");

    // The engine holds the stop: the request is in flight when the hub dies.
    forwarder.set(Mode::Hold);
    let stop = tokio::spawn({
        let alice = alice.clone();
        async move {
            alice
                .http
                .delete(format!("{}/hub/api/users/alice/server", alice.base))
                .header("cookie", format!("{COOKIE}={}", alice.session))
                .send()
                .await
        }
    });
    wait_for("the hub's stop request to reach the engine", Duration::from_secs(30), || {
        forwarder.held().iter().any(|l| l.starts_with("POST") && l.contains("/stop"))
    })
    .await;
    assert_eq!(alice.user("alice").await["servers"][""]["pending"], "stop");
    served.kill();
    assert!(stop.await.unwrap().is_err(), "the stop request died with the hub");
    assert!(exists(&container), "the container outlives the hub");
    forwarder.set(Mode::Open);

    // The new process carries out the stop it was left before it listens.
    let served = HubProcess::start(&dir, &env);
    let alice = alice.on(&served);
    let mine = alice.my_servers().await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!(mine[0]["status"], "stopped", "{mine}");
    assert_eq!(alice.user("alice").await["servers"], serde_json::json!({}));
    assert!(containers(&prefix).is_empty(), "{:?}", containers(&prefix));
    assert_eq!(alice.proxy_status().await, 503);
    // And the server starts again.
    assert_eq!(alice.start_and_wait().await["ready"], true);
    assert_eq!(alice.proxy_status().await, 200);
}

#[tokio::test]
async fn a_running_server_keeps_its_container_and_answers_after_the_hub_is_killed() {
    let dir = Scratch::new();
    let prefix = random_prefix("gr");
    let _cleanup = DockerCleanup(prefix.clone());
    let env = [
        ("GANYMEDE_ADMIN_USER", "alice"),
        ("GANYMEDE_ADMIN_PASSWORD", "alice-password"),
        ("GANYMEDE_SPAWNER__DOCKER__PREFIX", prefix.as_str()),
    ];
    let mut served = HubProcess::start(&dir, &env);
    let alice = Person::sign_in(&served.base, "alice", "alice-password").await;
    assert_eq!(alice.start_and_wait().await["ready"], true);
    assert_eq!(alice.proxy_status().await, 200);
    let container = containers(&prefix).pop().expect("the server's container");
    let started_at = inspect(&container)["State"]["StartedAt"].clone();

    served.kill();
    assert_eq!(inspect(&container)["State"]["Running"], true, "the container outlives the hub");

    let served = HubProcess::start(&dir, &env);
    let alice = alice.on(&served);
    // Routed again before the hub listens: the first request through the proxy answers.
    assert_eq!(alice.proxy_status().await, 200);
    let me = alice.user("alice").await;
    assert_eq!(me["servers"][""]["ready"], true, "{me}");
    assert_eq!(containers(&prefix), vec![container.clone()], "the same container");
    let now = inspect(&container);
    assert_eq!(now["State"]["StartedAt"], started_at, "the container was not restarted");
    assert_eq!(now["RestartCount"], 0);
    assert!(!served.log().contains("removing a workload that no server row owns"), "{}", served.log());
}

// ---------------------------------------------------------------------------------------------
// 4. A bad stored row.

fn add_user(dir: &Scratch, name: &str, password: &str) {
    let mut add = ganymede(dir);
    add.args(["user", "add", name, "--password-stdin"]);
    let out = run_with_stdin(add, &format!("{password}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The hub's database, opened beside the running hub.
pub(crate) async fn database(dir: &Scratch) -> hub::db::Pool {
    let url = match dir.database_url() {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", state_dir(dir).join("ganymede.db").display()),
    };
    hub::db::connect_existing(&url).await.expect("the hub's database opens")
}

fn state_dir(dir: &Scratch) -> PathBuf {
    dir.path().join("state")
}

async fn server_id(db: &hub::db::Pool, user: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT s.id FROM servers s JOIN users u ON u.id = s.user_id WHERE u.name = $1 AND s.name = ''",
    )
    .bind(user)
    .fetch_one(db)
    .await
    .unwrap()
}

/// What a row is corrupted with.
enum Corruption {
    Status(&'static str),
    SpawnerState(&'static str),
}

async fn corrupt(db: &hub::db::Pool, id: i64, how: Corruption) {
    let (sql, value) = match how {
        Corruption::Status(v) => ("UPDATE servers SET status = $1 WHERE id = $2", v),
        Corruption::SpawnerState(v) => ("UPDATE servers SET spawner_state = $1 WHERE id = $2", v),
    };
    let done = sqlx::query(sql).bind(value).bind(id).execute(db).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn wait_for_log(hub: &HubProcess, what: &str, pattern: &str) {
    wait_for(what, Duration::from_secs(10), || hub.log().contains(pattern)).await;
}

#[tokio::test]
async fn a_corrupted_server_row_is_a_clear_error_and_touches_nothing_else() {
    let dir = Scratch::new();
    let prefix = random_prefix("gb");
    let _cleanup = DockerCleanup(prefix.clone());
    let env = [
        ("GANYMEDE_ADMIN_USER", "root"),
        ("GANYMEDE_ADMIN_PASSWORD", "root-password"),
        ("GANYMEDE_SPAWNER__DOCKER__PREFIX", prefix.as_str()),
    ];
    // First serve creates the database (and root); the people come from the CLI.
    let mut served = HubProcess::start(&dir, &env);
    for name in ["alice", "bob", "carol"] {
        add_user(&dir, name, &format!("{name}-password"));
    }
    let mut people = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let person = Person::sign_in(&served.base, name, &format!("{name}-password")).await;
        assert_eq!(person.start_and_wait().await["ready"], true, "{name}'s server");
        assert_eq!(person.proxy_status().await, 200);
        people.push(person);
    }
    let [alice, bob, carol] = <[Person; 3]>::try_from(people).ok().unwrap();
    let root = Person::sign_in(&served.base, "root", "root-password").await;
    let ids: Vec<String> =
        ["alice", "bob", "carol"].iter().map(|u| container_of(&prefix, u).expect("a container")).collect();

    let db = database(&dir).await;
    let (alice_row, carol_row) = (server_id(&db, "alice").await, server_id(&db, "carol").await);
    corrupt(&db, alice_row, Corruption::Status("bogus")).await;
    corrupt(&db, carol_row, Corruption::SpawnerState("{\"workload\": {\"kind\": ")).await;

    // Every request naming a corrupted row is an error, and the log names the row and the field.
    for (person, row, field) in [(&alice, alice_row, "status"), (&carol, carol_row, "spawner state")] {
        let name = &person.name;
        let read = root.get(&format!("/hub/api/users/{name}")).await;
        assert_eq!(read.status(), 500, "{name}");
        let body: Value = read.json().await.unwrap();
        assert_eq!(body["message"], "Internal error; it has been logged.", "no database text leaks: {body}");
        let stop = person.send(reqwest::Method::DELETE, &format!("/hub/api/users/{name}/server")).await;
        assert_eq!(stop.status(), 500, "{name}");
        assert_eq!(person.server_fn("my_servers", &[]).await.status(), 500, "{name}");
        let start =
            person.server_fn("start_server", &[("flavour", "base"), ("size", "small"), ("name", "")]).await;
        assert!(start.status().is_server_error(), "{name}: {}", start.status());
        wait_for_log(
            &served,
            &format!("a log line naming {name}'s row"),
            &format!("server row {row} (user \"{name}\", server \"\"): unreadable {field}"),
        )
        .await;
    }
    assert!(ids.iter().all(|id| exists(id)), "no container was touched");

    // The user listing (REST and the admin page) still lists everyone; only the bad rows are
    // left out of it (and named in the log).
    let listing = root.get("/hub/api/users").await;
    assert_eq!(listing.status(), 200);
    let users: Value = listing.json().await.unwrap();
    let names: Vec<&str> = users.as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["root", "alice", "bob", "carol"], "{users}");
    let bob_listed = users.as_array().unwrap().iter().find(|u| u["name"] == "bob").unwrap();
    assert_eq!(bob_listed["servers"][""]["ready"], true, "{bob_listed}");
    wait_for_log(&served, "the listing's log line", "left out of the user listing").await;
    let page = root
        .server_fn(
            "admin_users",
            &[("search", ""), ("sort", "name"), ("active_only", "false"), ("page", "0"), ("page_size", "50")],
        )
        .await;
    assert_eq!(page.status(), 200);

    // The healthy server is listed and answers; the others' containers still run.
    let me = bob.user("bob").await;
    assert_eq!(me["servers"][""]["ready"], true, "{me}");
    assert_eq!(bob.proxy_status().await, 200);
    assert_eq!(bob.my_servers().await[0]["status"], "running");

    // Reconcile (a hub restarted after a kill) skips the bad rows and keeps their containers.
    served.kill();
    let served = HubProcess::start(&dir, &env);
    let bob = bob.on(&served);
    let log = served.log();
    assert!(log.contains(&format!("server row {carol_row} (user \"carol\"")), "{log}");
    assert!(log.contains("skipping a server row that does not parse"), "{log}");
    assert!(!log.contains("removing a workload that no server row owns"), "{log}");
    for (id, user) in ids.iter().zip(["alice", "bob", "carol"]) {
        assert!(exists(id), "{user}'s container is kept");
        assert_eq!(inspect(id)["State"]["Running"], true, "{user}'s container still runs");
    }
    assert_eq!(containers(&prefix).len(), 3);
    assert_eq!(bob.proxy_status().await, 200);
    assert_eq!(bob.user("bob").await["servers"][""]["ready"], true);
    // The rows are as they were left: nothing rewrote them.
    let status: String = sqlx::query_scalar("SELECT status FROM servers WHERE id = $1")
        .bind(alice_row)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(status, "bogus");
    assert_eq!(alice.on(&served).proxy_status().await, 503, "a row that does not parse is not routed");
}

// ---------------------------------------------------------------------------------------------
// 4. The GPU device request, as the engine records it.

#[tokio::test]
async fn a_gpu_containers_device_request_names_exactly_its_claimed_uuids_and_no_count() {
    let dir = Scratch::new();
    let forwarder = Forwarder::start(dir.path().join("engine.sock"));
    let host = forwarder.host();
    let app = TestApp::spawn_with(|c| {
        c.spawner.docker.host = host;
        crate::gpus::static_gpus(c, &["GPU-dr-0000", "GPU-dr-0001"], hub::config::GpuAttach::DeviceRequest);
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    // The engine's start of the container is held: the created container can be inspected.
    forwarder.set(Mode::HoldMatching("/start "));
    let fields = [("flavour", "base"), ("size", "gpu-test"), ("name", "")];
    assert_eq!(app.server_fn("start_server", &fields, Some(&session)).await.status(), 200);
    wait_for("the container's start", Duration::from_secs(60), || !forwarder.held().is_empty()).await;
    let ids = containers(&app.prefix);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let claimed = hub::gpus::ledger::holdings(&app.hub).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let requests = inspect(&ids[0])["HostConfig"]["DeviceRequests"].clone();
    let requests = requests.as_array().cloned().unwrap_or_else(|| panic!("device requests: {requests}"));
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["DeviceIDs"], serde_json::json!([claimed[0].uuid]), "{requests:?}");
    assert_eq!(requests[0]["Count"], 0, "named devices, never a count: {requests:?}");
    assert_eq!(requests[0]["Capabilities"], serde_json::json!([["gpu"]]));

    // This engine has no NVIDIA runtime: the start fails with the engine's reason, the
    // container goes and the GPU returns to the pool.
    forwarder.set(Mode::Open);
    let last = app.final_progress(&session, "").await;
    assert_eq!(last["failed"], true, "{last}");
    let message = last["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(message.contains("device driver") || message.contains("gpu"), "{last}");
    assert!(containers(&app.prefix).is_empty());
    assert!(hub::gpus::ledger::holdings(&app.hub).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// An engine that goes away and comes back.

async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.get("/hub/ready", None).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// What the dashboard's engine banner reads: since when the engine has not answered.
async fn outage(app: &TestApp, session: &str) -> Value {
    let response = app.server_fn("engine_outage", &[], Some(session)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_engine_that_goes_away_is_named_by_ready_and_the_dashboard_and_servers_that_died_meanwhile_are_stopped_when_it_is_back(
) {
    let sock = tempfile::tempdir().unwrap();
    let forwarder = Forwarder::start(sock.path().join("docker.sock"));
    let (app, session, container) = app_behind(&forwarder).await;
    let (status, body) = ready(&app).await;
    assert_eq!((status, &body["engine"], &body["database"]), (200, &json!("ok"), &json!("ok")), "{body}");
    assert_eq!(outage(&app, &session).await, Value::Null);

    // The engine stops answering: /hub/ready says which part is down; liveness stays up.
    forwarder.set(Mode::Refuse);
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["unavailable"], json!(["engine"]), "{body}");
    assert_eq!(body["database"], "ok");
    assert!(body["engine"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    assert_eq!(app.get("/hub/health", None).await.status(), 200);
    // The dashboard's banner appears within the watcher's few seconds.
    let mut since = Value::Null;
    for _ in 0..40 {
        since = outage(&app, &session).await;
        if since.is_number() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(since.is_number(), "the dashboard never said the engine is down");

    // Meanwhile the engine restarts and its containers die (as a restarted dockerd's do).
    let killed = crate::helpers::docker(&["kill", &container]);
    assert!(killed.status.success(), "{}", String::from_utf8_lossy(&killed.stderr));
    forwarder.set(Mode::Open);

    // Back: well within the 30-s reconcile, the server is stopped with its reason and the banner is
    // gone; nothing is stuck, and alice starts again.
    let began = Instant::now();
    let mut servers = Value::Null;
    while began.elapsed() < Duration::from_secs(15) {
        let me: Value = app.get("/hub/api/users/alice", Some(&session)).await.json().await.unwrap();
        servers = me["servers"].clone();
        if servers.as_object().is_some_and(|s| s.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(servers, json!({}), "the dead server was not settled within 15 s of the engine's return");
    assert_eq!(events(&app, "server.died").await, 1);
    let reason: String = sqlx::query_scalar("SELECT detail FROM events WHERE action = 'server.died'")
        .fetch_one(app.hub.db())
        .await
        .unwrap();
    assert!(reason.contains("exited"), "{reason}");
    // What the server wrote before it died is kept for alice (its container is gone).
    let log: Value = app
        .server_fn("server_log", &[("user", ""), ("server", "")], Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["live"], false, "{log}");
    assert!(log["text"].as_str().is_some_and(|t| t.contains("Jupyter")), "{log}");
    assert_eq!(outage(&app, &session).await, Value::Null);
    assert_eq!(ready(&app).await.0, 200);
    assert!(!exists(&container));
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);
}
