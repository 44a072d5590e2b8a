use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use ganymede_server::startup::Application;
use hub::accounts::{self, NewAccount};
use hub::config::Config;
use hub::db::testing::ScratchDatabase;
use hub::domain::{Password, UserName};
use hub::Hub;
use leptos::prelude::LeptosOptions;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{redirect, Response};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const COOKIE: &str = "ganymede-session";

/// The longest any one test's hub may live. `cargo test` has no time limit of its own, so a test
/// stuck past this stops the whole test process with what its hub was doing (below) instead of
/// holding CI until its own limit.
const TEST_LIMIT: Duration = Duration::from_secs(600);
/// The longest one request of a test may take (a progress stream included).
const REQUEST_LIMIT: Duration = Duration::from_secs(240);
/// The longest one `docker` command of a test may take.
const DOCKER_LIMIT: &str = "120";

pub struct TestApp {
    pub base: String,
    /// Name prefix of this app's containers and volumes (unique per test).
    pub prefix: String,
    pub hub: Hub,
    pub http: reqwest::Client,
    data: Option<Scratch>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _watchdog: Watchdog,
}

/// Stops the test process when a test's hub outlives [`TEST_LIMIT`], printing the test's name,
/// its hub's address and the state of its database pool (a pool with no idle connection and
/// waiters is the usual reason a request waits forever).
struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl Watchdog {
    fn start(hub: Hub, base: String) -> Self {
        let test = std::thread::current().name().unwrap_or("(unnamed test)").to_owned();
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let watched = Arc::clone(&done);
        let started = Instant::now();
        std::thread::spawn(move || {
            let (lock, woken) = &*watched;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) =
                woken.wait_timeout_while(guard, TEST_LIMIT, |done| !*done).unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
            let pool = hub.db();
            eprintln!(
                "\n*** test {test} is stuck: its hub at {base} has run {} s (limit {} s); \
                 database pool: {} connections, {} idle. Stopping the test process.\n",
                started.elapsed().as_secs(),
                TEST_LIMIT.as_secs(),
                pool.size(),
                pool.num_idle(),
            );
            std::process::exit(124);
        });
        Self { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, woken) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        woken.notify_all();
    }
}

/// A client for a test: no redirects followed, every request within [`REQUEST_LIMIT`].
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(redirect::Policy::none()).timeout(REQUEST_LIMIT)
}

/// Runs `docker ARGS` with a time limit (a hung engine fails the test, naming the command,
/// instead of hanging it).
pub fn docker(args: &[&str]) -> std::process::Output {
    bounded_docker(args)
        .unwrap_or_else(|| panic!("docker {} did not answer within {DOCKER_LIMIT} s", args.join(" ")))
}

/// `docker ARGS` with a time limit; `None` when it ran out.
fn bounded_docker(args: &[&str]) -> Option<std::process::Output> {
    let out = std::process::Command::new("timeout")
        .args(["--kill-after=5", DOCKER_LIMIT, "docker"])
        .args(args)
        .output()
        .expect("docker runs (through timeout)");
    (!matches!(out.status.code(), Some(124) | Some(137))).then_some(out)
}

/// A test's own state: a temporary data directory and, when `GANYMEDE_TEST_DATABASE` names a
/// PostgreSQL server, a fresh database there (else the hub's default SQLite file in the
/// directory). Both go when it is dropped.
pub struct Scratch {
    db: Option<ScratchDatabase>,
    dir: TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self { db: ScratchDatabase::from_env(), dir: tempfile::tempdir().expect("temp dir") }
    }

    /// A scratch whose hub stays on SQLite in the directory, whatever the environment says.
    pub fn sqlite() -> Self {
        Self { db: None, dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database URL to configure; `None`: the default SQLite file in the data directory.
    pub fn database_url(&self) -> Option<&str> {
        self.db.as_ref().map(ScratchDatabase::url)
    }
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            ganymede_server::telemetry::init();
        }
    });
}

pub fn site_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a hub whose config the caller may change first.
    pub async fn spawn_with(change: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let data = Scratch::new();
        let mut config = Config::default();
        config.hub.bind = "127.0.0.1:0".parse().expect("address");
        config.hub.data_dir = data.path().to_owned();
        config.database.url = data.database_url().map(str::to_owned);
        let prefix = format!(
            "gt{}",
            &hub::secret::SecretToken::generate().expose().to_lowercase().replace(['-', '_'], "")[..8]
        );
        config.spawner.docker.prefix = prefix.clone();
        change(&mut config);
        Self::serve(config, data, prefix).await
    }

    async fn serve(config: Config, data: Scratch, prefix: String) -> Self {
        config.validate().expect("test config is valid");
        let options = LeptosOptions::builder()
            .output_name("ganymede")
            .site_root(site_root().display().to_string())
            .build();
        let app = Application::build(config, options).await.expect("hub builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let hub = app.hub().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let http = client_builder().build().expect("client");
        let watchdog = Watchdog::start(hub.clone(), base.clone());
        Self {
            base,
            prefix,
            hub,
            http,
            data: Some(data),
            stop: Some(stop),
            served: Some(served),
            _watchdog: watchdog,
        }
    }

    /// Shuts this hub down (it gives up its leases) and starts a new one on the same config, data
    /// directory and database, as a restarted hub process would; on a new port.
    pub async fn restart(mut self) -> Self {
        let config = self.hub.config().clone();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
        let data = self.data.take().expect("the data directory");
        Self::serve(config, data, self.prefix.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an approved local user directly in the database.
    pub async fn add_user(&self, name: &str, password: &str, admin: bool) {
        let name = UserName::parse(name).expect("valid name");
        let password = Password::parse(password, &name, self.hub.config().auth.local.password_policy())
            .expect("valid password");
        accounts::create_user(
            &self.hub,
            None,
            NewAccount { name: &name, password: Some(&password), is_admin: admin, approved: true },
        )
        .await
        .expect("user created");
    }

    /// Calls a server function with form fields, optionally as a signed-in user.
    pub async fn server_fn(&self, name: &str, fields: &[(&str, &str)], session: Option<&str>) -> Response {
        let mut request = self.http.post(self.url(&format!("/hub/fn/{name}"))).form(fields);
        if let Some(s) = session {
            request = request.header("cookie", format!("{COOKIE}={s}"));
        }
        request.send().await.expect("request sent")
    }

    /// Signs in; returns the response, whose `Set-Cookie` carries the session on success.
    pub async fn login(&self, name: &str, password: &str) -> Response {
        self.server_fn("login", &[("username", name), ("password", password)], None).await
    }

    /// Signs in and returns the session cookie value, failing the test otherwise.
    pub async fn session(&self, name: &str, password: &str) -> String {
        let response = self.login(name, password).await;
        assert_eq!(response.status(), 200, "sign-in of {name} should succeed");
        session_cookie(response.headers()).expect("a session cookie is set")
    }

    pub async fn get(&self, path: &str, session: Option<&str>) -> Response {
        let mut request = self.http.get(self.url(path));
        if let Some(s) = session {
            request = request.header("cookie", format!("{COOKIE}={s}"));
        }
        request.send().await.expect("request sent")
    }
}

/// The value of the session cookie set by a response, if any (an empty value clears it).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    set_cookie_header(headers).and_then(|h| {
        let first = h.split(';').next()?;
        let (name, value) = first.split_once('=')?;
        (name == COOKIE).then(|| value.to_owned())
    })
}

pub fn set_cookie_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{COOKIE}=")))
        .map(str::to_owned)
}

/// Whether a page response is the redirect to the sign-in page.
pub fn is_login_redirect(response: &Response) -> bool {
    response.status().is_redirection()
        && response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with("/hub/login"))
}

impl Drop for TestApp {
    /// Removes the containers and volumes this test's hub made.
    fn drop(&mut self) {
        remove_docker_objects(&self.prefix);
    }
}

/// A name prefix for one test's containers and volumes: `{tag}` and eight random characters.
pub fn random_prefix(tag: &str) -> String {
    let token = hub::secret::SecretToken::generate().expose().to_lowercase().replace(['-', '_'], "");
    format!("{tag}{}", &token[..8])
}

/// Removes a test's containers and volumes (those named with its prefix) however the test ends.
pub struct DockerCleanup(pub String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        remove_docker_objects(&self.0);
    }
}

/// Best effort (it runs in `Drop`, perhaps while a failing test unwinds: it must not panic); an
/// engine that does not answer is reported, not waited on.
pub fn remove_docker_objects(prefix: &str) {
    let run = |args: &[&str]| -> Vec<String> {
        match bounded_docker(args) {
            Some(out) => String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect(),
            None => {
                eprintln!("clean-up: docker {} did not answer within {DOCKER_LIMIT} s", args.join(" "));
                Vec::new()
            }
        }
    };
    let containers = run(&["ps", "-aq", "--filter", &format!("name={prefix}-")]);
    if !containers.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(containers.iter().map(String::as_str));
        run(&args);
    }
    let volumes = run(&["volume", "ls", "-q", "--filter", &format!("name={prefix}-home-")]);
    if !volumes.is_empty() {
        let mut args = vec!["volume", "rm", "-f"];
        args.extend(volumes.iter().map(String::as_str));
        run(&args);
    }
    // Servers' own networks, once their containers are gone (the hub's shared one stays).
    let networks = run(&["network", "ls", "-q", "--filter", &format!("name={prefix}-")]);
    if !networks.is_empty() {
        let mut args = vec!["network", "rm"];
        args.extend(networks.iter().map(String::as_str));
        run(&args);
    }
}

/// Containers whose name starts with the prefix. A `docker ps` that fails fails the test (an
/// empty list must mean "none", never "docker did not answer").
pub fn containers(prefix: &str) -> Vec<String> {
    let out = docker(&["ps", "-aq", "--filter", &format!("name={prefix}-")]);
    assert!(out.status.success(), "docker ps failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
}

/// `docker inspect` of one container, or `None` when the engine says there is no such container
/// (it went between a listing and this); any other failure of docker fails the test.
pub fn try_inspect(container: &str) -> Option<serde_json::Value> {
    let out = docker(&["inspect", container]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No such object"), "docker inspect {container} failed: {err}");
        return None;
    }
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    Some(all[0].clone())
}

/// A container's labels (`null` when it is gone).
pub fn labels(container: &str) -> serde_json::Value {
    try_inspect(container).map(|c| c["Config"]["Labels"].clone()).unwrap_or_default()
}

/// `docker inspect` of one container, as JSON; fails the test when docker does.
pub fn inspect(container: &str) -> serde_json::Value {
    let out = docker(&["inspect", container]);
    assert!(
        out.status.success(),
        "docker inspect {container} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    all[0].clone()
}

impl TestApp {
    /// Starts a server through the dashboard's server function and follows the progress stream to
    /// its end; returns the final event.
    pub async fn start_and_wait(
        &self,
        session: &str,
        flavour: &str,
        size: &str,
        name: &str,
    ) -> serde_json::Value {
        let response = self
            .server_fn("start_server", &[("flavour", flavour), ("size", size), ("name", name)], Some(session))
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
        self.final_progress(session, name).await
    }

    /// Reads the progress event stream until its last event.
    pub async fn final_progress(&self, session: &str, name: &str) -> serde_json::Value {
        let user = self.whoami(session).await;
        let path = if name.is_empty() {
            format!("/hub/api/users/{user}/server/progress")
        } else {
            format!("/hub/api/users/{user}/servers/{name}/progress")
        };
        let response = self.get(&path, Some(session)).await;
        assert_eq!(response.status(), 200);
        let body = tokio::time::timeout(Duration::from_secs(180), response.text())
            .await
            .expect("progress ends in time")
            .unwrap();
        let last =
            body.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().expect("at least one event");
        serde_json::from_str(last).unwrap()
    }

    pub async fn whoami(&self, session: &str) -> String {
        let response = self.server_fn("whoami", &[], Some(session)).await;
        let user: serde_json::Value = response.json().await.unwrap();
        user["name"].as_str().unwrap().to_owned()
    }
}

/// Waits until `check` holds, polling every 100 ms; fails the test after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A kernel's websocket through the hub's proxy.
pub type KernelSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts a kernel on `user`'s default server through the proxy and opens its websocket, as
/// JupyterLab does, with `credential` (a `cookie` or `authorization` header).
pub async fn kernel(app: &TestApp, user: &str, credential: (&str, String)) -> KernelSocket {
    kernel_at(&app.http, &app.base, user, credential).await.1
}

/// [`kernel`] on the hub at `base`: the kernel's id and its websocket.
pub async fn kernel_at(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    credential: (&str, String),
) -> (String, KernelSocket) {
    let response = http
        .post(format!("{base}/user/{user}/api/kernels"))
        .header(credential.0, &credential.1)
        .header("origin", base)
        .json(&serde_json::json!({ "name": "python3" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let kernel: serde_json::Value = response.json().await.unwrap();
    let id = kernel["id"].as_str().expect("kernel id").to_owned();
    let socket = kernel_socket(base, user, &id, credential).await;
    (id, socket)
}

/// Opens the websocket of the running kernel `id` through the hub at `base` (JupyterLab's
/// reconnect after the hub came back).
pub async fn kernel_socket(base: &str, user: &str, id: &str, credential: (&str, String)) -> KernelSocket {
    let mut request = format!("{}/user/{user}/api/kernels/{id}/channels", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        reqwest::header::HeaderName::from_bytes(credential.0.as_bytes()).unwrap(),
        credential.1.parse().unwrap(),
    );
    request.headers_mut().insert("origin", base.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("kernel websocket").0
}

/// Runs `code` on the kernel behind `ws` and returns what it printed (within 60 s).
pub async fn printed(ws: &mut KernelSocket, msg_id: &str, code: &str) -> String {
    use futures_util::{SinkExt, StreamExt};
    ws.send(execute(msg_id, code)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(Ok(message)) = ws.next().await {
            let Ok(text) = message.to_text() else { continue };
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(text) else { continue };
            if msg["msg_type"] == "stream" && msg["parent_header"]["msg_id"] == msg_id {
                return msg["content"]["text"].as_str().unwrap_or_default().to_owned();
            }
        }
        String::new()
    })
    .await
    .expect("the kernel answers in time")
}

/// A kernel protocol `execute_request` as JupyterLab sends it.
pub fn execute(msg_id: &str, code: &str) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::text(
        serde_json::json!({
            "header": { "msg_id": msg_id, "username": "alice", "session": "s1", "msg_type": "execute_request",
                        "version": "5.3", "date": "2026-01-01T00:00:00Z" },
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": { "code": code, "silent": false, "store_history": false,
                         "user_expressions": {}, "allow_stdin": false, "stop_on_error": true },
        })
        .to_string(),
    )
}
