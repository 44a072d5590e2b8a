use std::path::PathBuf;
use std::sync::Once;

use ganymede_server::startup::Application;
use hub::accounts::{self, NewAccount};
use hub::config::Config;
use hub::domain::{Password, UserName};
use hub::Hub;
use leptos::prelude::LeptosOptions;
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{redirect, Response};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const COOKIE: &str = "ganymede-session";

pub struct TestApp {
    pub base: String,
    pub hub: Hub,
    pub http: reqwest::Client,
    _data: TempDir,
    _stop: oneshot::Sender<()>,
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
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.hub.bind = "127.0.0.1:0".parse().expect("address");
        config.hub.data_dir = data.path().to_owned();
        change(&mut config);
        config.validate().expect("test config is valid");
        let options = LeptosOptions::builder()
            .output_name("ganymede")
            .site_root(site_root().display().to_string())
            .build();
        let app = Application::build(config, options).await.expect("hub builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let hub = app.hub().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().redirect(redirect::Policy::none()).build().expect("client");
        Self { base, hub, http, _data: data, _stop: stop }
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
            self.hub.db(),
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
