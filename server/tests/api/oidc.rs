//! OpenID Connect sign-in against a real provider: `end2end/oidc/server.mjs` (npm
//! `oidc-provider`, an OpenID-certified implementation) on 127.0.0.1, driven by a plain HTTP
//! client through the provider's real login form. Covers the happy paths and every refusal:
//! unreachable provider, state mismatch, nonce mismatch, replayed and expired attempts, a code
//! used twice, people not allowed or blocked, bad user-name claims, key rotation, logout.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{TestApp, COOKIE};

/// The test provider, killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
    _config: tempfile::NamedTempFile,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port for a server that must know its address before it starts (the provider registers the
/// hub's callback URL). Taken below Linux's ephemeral range (32768+), so no port-0 bind elsewhere in
/// the test run can grab it between this check and its use.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 500) as u16 * 20;
    loop {
        let port = start + NEXT.fetch_add(1, Ordering::Relaxed) % 2_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn accounts() -> Value {
    json!([
        { "sub": "alice", "username": "alice", "password": "alice-pw", "email": "alice@example.org", "groups": ["admins", "users"] },
        { "sub": "bob", "username": "bob", "password": "bob-pw", "email": "bob@example.org", "groups": ["users"] },
        { "sub": "carol", "username": "carol", "password": "carol-pw", "groups": ["others"] },
        { "sub": "w-1", "username": "Weird Name!", "password": "weird-pw", "groups": ["users"] },
        { "sub": "d-1", "password": "dee-pw", "email": "dee@uni.example", "groups": ["users"] },
    ])
}

impl Provider {
    /// Starts the provider on `port` (0: any) for a hub on `hub_port`.
    fn start(hub_port: u16, port: u16) -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end");
        let config = tempfile::NamedTempFile::new().unwrap();
        let hub = format!("http://127.0.0.1:{hub_port}");
        let fixture = json!({
            "clients": [{
                "client_id": "hub",
                "client_secret": "hub-secret",
                "redirect_uris": [format!("{hub}/hub/oauth_callback")],
                "post_logout_redirect_uris": [format!("{hub}/hub/login")],
            }],
            "accounts": accounts(),
        });
        std::fs::write(config.path(), fixture.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg(format!("{root}/oidc/server.mjs"))
            .arg("--config")
            .arg(config.path())
            .arg("--port")
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the test provider (npm ci in end2end/ first)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let issuer = line.trim().strip_prefix("oidc-provider listening on ").expect("ready line").to_owned();
        Self { child, issuer, _config: config }
    }
}

/// A hub on a known port, with OpenID Connect pointing at `issuer`.
async fn hub_with(port: u16, issuer: &str, change: impl FnOnce(&mut hub::config::OidcConfig)) -> TestApp {
    let issuer = issuer.to_owned();
    TestApp::spawn_with(move |config| {
        config.hub.bind = format!("127.0.0.1:{port}").parse().unwrap();
        let oidc = &mut config.auth.oidc;
        oidc.enabled = true;
        oidc.issuer_url = issuer;
        oidc.client_id = "hub".into();
        oidc.client_secret = serde_json::from_value(json!("hub-secret")).unwrap();
        oidc.redirect_url = format!("http://127.0.0.1:{port}/hub/oauth_callback");
        oidc.scopes = vec!["openid".into(), "profile".into(), "email".into(), "groups".into()];
        oidc.allowed_groups = vec!["users".into()];
        oidc.admin_groups = vec!["admins".into()];
        change(oidc);
    })
    .await
}

/// A browser: keeps cookies, follows no redirects by itself.
fn browser() -> reqwest::Client {
    crate::helpers::client_builder().cookie_store(true).build().unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).expect("a redirect").to_str().unwrap().to_owned()
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("{base}{location}")
    }
}

/// Goes from the hub's login route through the provider's form; returns the callback URL the
/// provider sends the browser back to (not yet visited).
async fn authorize(
    browser: &reqwest::Client,
    app: &TestApp,
    provider: &Provider,
    user: &str,
    password: &str,
) -> String {
    let start = browser.get(app.url("/hub/oauth_login?next=/hub/token")).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "{}", start.text().await.unwrap());
    let mut url = location(&start);
    assert!(url.starts_with(&provider.issuer), "{url}");
    let mut form_posted = false;
    loop {
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            url = absolute(&provider.issuer, &location(&response));
            if url.starts_with(&app.base) {
                return url;
            }
            continue;
        }
        assert_eq!(response.status(), 200, "{url}");
        assert!(!form_posted, "the provider showed its form again: wrong password?");
        let page = response.text().await.unwrap();
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a login form")
            .to_owned();
        let posted = browser
            .post(absolute(&provider.issuer, &action))
            .form(&[("username", user), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::SEE_OTHER, "{}", posted.text().await.unwrap());
        form_posted = true;
        url = absolute(&provider.issuer, &location(&posted));
    }
}

/// Whose session the browser holds, if any.
async fn whoami(browser: &reqwest::Client, app: &TestApp) -> Value {
    let response = browser.get(app.url("/hub/api/user")).send().await.unwrap();
    if response.status() == 403 {
        return Value::Null;
    }
    response.json().await.unwrap()
}

async fn refused(response: reqwest::Response, status: u16, text: &str) {
    assert_eq!(response.status(), status);
    assert!(
        response.headers().get_all("set-cookie").iter().all(|c| !c
            .to_str()
            .unwrap()
            .starts_with(&format!("{COOKIE}="))
            || c.to_str().unwrap().contains("Max-Age=0")),
        "no session cookie"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(page.contains(text), "expected {text:?} in {page}");
}

#[tokio::test]
async fn allowed_groups_sign_in_admin_groups_make_admins_and_groups_follow_the_provider() {
    let port = free_port();
    let provider = Provider::start(port, 0);
    let app = hub_with(port, &provider.issuer, |_| {}).await;

    let alice = browser();
    let callback = authorize(&alice, &app, &provider, "alice", "alice-pw").await;
    let landed = alice.get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&landed), "/hub/token", "next is kept");
    let cookie = landed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(COOKIE))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let me = whoami(&alice, &app).await;
    assert_eq!((me["name"].as_str(), me["admin"].as_bool()), (Some("alice"), Some(true)));
    assert_eq!(me["groups"], json!(["admins", "users"]));
    // With the provider managing groups, the admin page's group editing is refused.
    let listing: Value =
        alice.post(app.url("/hub/fn/admin_groups")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listing["managed_by_provider"], true);
    let edit = alice
        .post(app.url("/hub/fn/admin_set_group_members"))
        .form(&[("name", "users"), ("members", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 400);
    assert!(edit.text().await.unwrap().contains("identity provider"));
    // The REST API keeps the same rule (JupyterHub's 400 with `manage_groups`), and nothing changes.
    let token: Value = alice
        .post(app.url("/hub/api/users/alice/tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let members = json!({ "users": ["alice"] });
    for (method, path, body) in [
        (reqwest::Method::POST, "/hub/api/groups/users/users", Some(&members)),
        (reqwest::Method::DELETE, "/hub/api/groups/users/users", Some(&members)),
        (reqwest::Method::POST, "/hub/api/groups/newcomers", None),
        (reqwest::Method::DELETE, "/hub/api/groups/users", None),
    ] {
        let mut request =
            app.http.request(method.clone(), app.url(path)).header("authorization", format!("token {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{method} {path}");
        assert!(response.text().await.unwrap().contains("identity provider"), "{method} {path}");
    }
    let group: Value = app.api_get("/hub/api/groups/users", &token).await.json().await.unwrap();
    assert_eq!(group["users"], json!(["alice"]), "the provider's membership is unchanged");

    let bob = browser();
    let callback = authorize(&bob, &app, &provider, "bob", "bob-pw").await;
    bob.get(&callback).send().await.unwrap();
    let me = whoami(&bob, &app).await;
    assert_eq!((me["name"].as_str(), me["admin"].as_bool()), (Some("bob"), Some(false)));

    // Admin rights follow the provider: an admin made by hand loses them at the next sign-in.
    let name = hub::domain::UserName::parse("bob").unwrap();
    hub::accounts::set_admin(&app.hub, None, &name, true).await.unwrap();
    let again = browser();
    let callback = authorize(&again, &app, &provider, "bob", "bob-pw").await;
    again.get(&callback).send().await.unwrap();
    assert_eq!(whoami(&again, &app).await["admin"], false);

    // E-mail in a configured domain → its local part, when the name claim is missing.
    let port2 = free_port();
    let provider2 = Provider::start(port2, 0);
    let app2 =
        hub_with(port2, &provider2.issuer, |o| o.username_email_domains = vec!["uni.example".into()]).await;
    let dee = browser();
    let callback = authorize(&dee, &app2, &provider2, "d-1", "dee-pw").await;
    dee.get(&callback).send().await.unwrap();
    assert_eq!(whoami(&dee, &app2).await["name"], "dee");
}

#[tokio::test]
async fn people_not_allowed_blocked_or_with_bad_names_are_refused_without_a_session() {
    let port = free_port();
    let provider = Provider::start(port, 0);
    let app = hub_with(port, &provider.issuer, |o| o.blocked_users = vec!["bob".into()]).await;
    app.add_user("alice", "local-alice-password", false).await;

    for (user, password, status, text) in [
        ("carol", "carol-pw", 403, "carol is not allowed to use this hub"),
        ("bob", "bob-pw", 403, "bob is blocked on this hub"),
        ("Weird Name!", "weird-pw", 400, "is not a valid user name"),
        ("d-1", "dee-pw", 400, "is not a valid user name"),
        ("alice", "alice-pw", 403, "a local account named alice already exists"),
    ] {
        let b = browser();
        let callback = authorize(&b, &app, &provider, user, password).await;
        refused(b.get(&callback).send().await.unwrap(), status, text).await;
        assert_eq!(whoami(&b, &app).await, Value::Null, "{user} has no session");
    }
    let log: Vec<Option<String>> =
        sqlx::query_scalar("SELECT target FROM events WHERE action = 'session.login_refused' ORDER BY id")
            .fetch_all(app.hub.db())
            .await
            .unwrap();
    let named: Vec<&str> = log.iter().flatten().map(String::as_str).filter(|t| !t.is_empty()).collect();
    assert_eq!(log.len(), 5, "every refusal is audited");
    assert_eq!(named, ["carol", "bob", "alice"], "with the name when there is one");
    let local =
        hub::users::find(&app.hub, &hub::domain::UserName::parse("alice").unwrap()).await.unwrap().unwrap();
    assert_eq!(local.auth_source, "local", "the local account was not taken over");
}

#[tokio::test]
async fn state_nonce_replays_expiry_and_reused_codes_are_refused() {
    let port = free_port();
    let provider = Provider::start(port, 0);
    let app = hub_with(port, &provider.issuer, |_| {}).await;

    // The callback in another browser (no state cookie): refused.
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    refused(browser().get(&callback).send().await.unwrap(), 400, "unknown, expired or already used").await;
    // … and that used the attempt up: the right browser cannot finish it either.
    refused(b.get(&callback).send().await.unwrap(), 400, "already used").await;

    // A replayed callback after a successful sign-in.
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    refused(b.get(&callback).send().await.unwrap(), 400, "already used").await;

    // The nonce the ID token carries is not the attempt's.
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    sqlx::query("UPDATE oidc_logins SET nonce = 'another-nonce'").execute(app.hub.db()).await.unwrap();
    refused(b.get(&callback).send().await.unwrap(), 400, "nonce mismatch").await;

    // An attempt older than ten minutes.
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    sqlx::query("UPDATE oidc_logins SET created_at = created_at - 660000")
        .execute(app.hub.db())
        .await
        .unwrap();
    refused(b.get(&callback).send().await.unwrap(), 400, "expired").await;

    // A code that was already redeemed, presented with a fresh, valid attempt.
    let b = browser();
    let first = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    assert_eq!(b.get(&first).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let code =
        reqwest::Url::parse(&first).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let fresh = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    let mut reused = reqwest::Url::parse(&fresh).unwrap();
    let state = reused.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    reused.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", &state);
    refused(b.get(reused.as_str()).send().await.unwrap(), 400, "did not accept the sign-in code").await;

    // The provider reports an error instead of a code.
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    let mut denied = reqwest::Url::parse(&callback).unwrap();
    let state = denied.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    denied.query_pairs_mut().clear().append_pair("error", "access_denied").append_pair("state", &state);
    refused(b.get(denied.as_str()).send().await.unwrap(), 400, "access_denied").await;
}

#[tokio::test]
async fn an_unreachable_provider_leaves_the_hub_and_local_sign_in_working() {
    let port = free_port();
    let provider_port = free_port();
    let app = hub_with(port, &format!("http://127.0.0.1:{provider_port}"), |_| {}).await;
    app.add_user("root", "root-password", true).await;
    assert_eq!(app.get("/hub/health", None).await.status(), 200);
    let session = app.session("root", "root-password").await;
    assert!(!session.is_empty(), "local sign-in works");

    let options: Value = app.server_fn("login_options", &[], None).await.json().await.unwrap();
    assert_eq!(options["oidc"]["label"], "Sign in with OpenID Connect");
    assert!(options["oidc"]["outage"].as_str().unwrap().contains("cannot be reached"), "{options}");
    let start = browser().get(app.url("/hub/oauth_login")).send().await.unwrap();
    assert_eq!(start.status(), 503);
    assert!(start.text().await.unwrap().contains("cannot be reached"));

    // The provider comes up: after the retry pause, sign-in works.
    let provider = Provider::start(port, provider_port);
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&b, &app).await["name"], "bob");
}

#[tokio::test]
async fn new_provider_keys_are_fetched_when_a_token_names_an_unknown_key() {
    let port = free_port();
    let provider_port = free_port();
    let provider = Provider::start(port, provider_port);
    let app = hub_with(port, &provider.issuer, |_| {}).await;
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);

    // The provider restarts with new signing keys; the hub still knows only the old ones.
    drop(provider);
    let provider = Provider::start(port, provider_port);
    let b = browser();
    let callback = authorize(&b, &app, &provider, "bob", "bob-pw").await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&b, &app).await["name"], "bob");
}

#[tokio::test]
async fn logout_ends_the_session_and_sends_the_browser_to_the_providers_logout() {
    let port = free_port();
    let provider = Provider::start(port, 0);
    let app = hub_with(port, &provider.issuer, |_| {}).await;
    let b = browser();
    let callback = authorize(&b, &app, &provider, "alice", "alice-pw").await;
    b.get(&callback).send().await.unwrap();
    let out = b.post(app.url("/hub/fn/logout")).send().await.unwrap();
    let to = location(&out);
    assert!(to.starts_with(&format!("{}/session/end?", provider.issuer)), "{to}");
    let url = reqwest::Url::parse(&to).unwrap();
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], "hub");
    assert_eq!(params["post_logout_redirect_uri"], format!("http://127.0.0.1:{port}/hub/login"));
    assert!(params["id_token_hint"].split('.').count() == 3, "the ID token is the hint");
    assert_eq!(whoami(&b, &app).await, Value::Null);
    // The provider accepts the request and offers to end its session.
    let page = b.get(&to).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("sign out"));
}

#[tokio::test]
async fn auto_login_sends_the_login_page_to_the_provider_and_password_sign_in_can_be_off() {
    let port = free_port();
    let provider = Provider::start(port, 0);
    let app = hub_with(port, &provider.issuer, |o| o.auto_login = true).await;
    app.add_user("root", "root-password", true).await;
    let login = app.get("/hub/login?next=%2Fhub%2Ftoken", None).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(login.headers()[LOCATION], "/hub/oauth_login?next=%2Fhub%2Ftoken");
    // The password form stays reachable on request, and a signed-out page still goes to login.
    assert_eq!(app.get("/hub/login?local=1", None).await.status(), 200);
    let b = browser();
    let start = b.get(app.url("/hub/oauth_login?next=%2Fhub%2Ftoken")).send().await.unwrap();
    assert!(location(&start).starts_with(&provider.issuer));

    // Provider only: no password sign-in, no sign-up, and no way around auto_login.
    let port = free_port();
    let provider = Provider::start(port, 0);
    let app = TestApp::spawn_with({
        let issuer = provider.issuer.clone();
        move |config| {
            config.hub.bind = format!("127.0.0.1:{port}").parse().unwrap();
            config.auth.local.enabled = false;
            config.auth.local.allow_signup = true;
            let oidc = &mut config.auth.oidc;
            oidc.enabled = true;
            oidc.auto_login = true;
            oidc.issuer_url = issuer;
            oidc.client_id = "hub".into();
            oidc.redirect_url = format!("http://127.0.0.1:{port}/hub/oauth_callback");
            oidc.allow_all = true;
        }
    })
    .await;
    app.add_user("root", "root-password", true).await;
    // Turned off: forbidden, as every refusal of its class is.
    assert_eq!(app.login("root", "root-password").await.status(), 403);
    let signup = app
        .server_fn(
            "signup",
            &[("username", "eve"), ("password", "eve-password-1"), ("confirm", "eve-password-1")],
            None,
        )
        .await;
    assert_eq!(signup.status(), 403);
    let options: Value = app.server_fn("login_options", &[], None).await.json().await.unwrap();
    assert_eq!((options["local"].as_bool(), options["allow_signup"].as_bool()), (Some(false), Some(false)));
    assert_eq!(app.get("/hub/login?local=1", None).await.status(), StatusCode::SEE_OTHER);
}
