//! The hub as its servers' OAuth2 provider, with the real engine: each started server has a
//! client whose secret is the server's own token (read here from the real container), codes are
//! single-use and short-lived, tokens end with the browser session and with the server, and
//! every error path answers as JupyterHub's single-user servers expect.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{containers, inspect, TestApp, COOKIE};

const CALLBACK: &str = "/user/alice/oauth_callback";

/// The server's own token, from its container's environment.
fn server_token(app: &TestApp, label_server: &str) -> String {
    let id = containers(&app.prefix)
        .into_iter()
        .find(|id| inspect(id)["Config"]["Labels"]["org.ganymede.server"] == label_server)
        .expect("the server's container");
    let env = inspect(&id)["Config"]["Env"].as_array().cloned().unwrap_or_default();
    env.iter()
        .find_map(|e| e.as_str()?.strip_prefix("JUPYTER_TOKEN=").map(str::to_owned))
        .expect("JUPYTER_TOKEN")
}

async fn authorize(app: &TestApp, session: Option<&str>, query: &str) -> reqwest::Response {
    app.get(&format!("/hub/api/oauth2/authorize?{query}"), session).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
}

/// The code of a successful authorization's redirect.
async fn code(app: &TestApp, session: &str, extra: &str) -> String {
    let r = authorize(
        app,
        Some(session),
        &format!("client_id=jupyterhub-user-alice&redirect_uri=%2Fuser%2Falice%2Foauth_callback&response_type=code&state=st8{extra}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let to = location(&r);
    assert!(to.starts_with(&format!("{CALLBACK}?code=")) && to.ends_with("&state=st8"), "{to}");
    to.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned()
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn exchange(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = app.http.post(app.url("/hub/api/oauth2/token")).form(fields).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn whoami(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/hub/api/user"))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_oauth_flow_issues_a_token_for_the_owner_and_refuses_every_bad_request() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password-1", false).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password-1").await;

    // The API root answers without credentials, with the version header on every response.
    let root = app.get("/hub/api/", None).await;
    assert_eq!(root.status(), 200);
    let version = root.headers()["x-jupyterhub-version"].to_str().unwrap().to_owned();
    assert!(
        version.split('.').next().is_some_and(|major| major.parse::<u32>().is_ok_and(|m| m >= 5)),
        "{version}"
    );
    assert_eq!(root.json::<Value>().await.unwrap()["version"], version);

    assert_eq!(app.start_and_wait(&alice, "base", "small", "").await["ready"], true);
    assert_eq!(app.start_and_wait(&alice, "base", "small", "two").await["ready"], true);
    let secret = server_token(&app, "");
    let other_secret = server_token(&app, "two");

    // Signed out: to the sign-in page, coming back here.
    let q =
        "client_id=jupyterhub-user-alice&redirect_uri=%2Fuser%2Falice%2Foauth_callback&response_type=code";
    let r = authorize(&app, None, q).await;
    assert!(r.status().is_redirection());
    assert!(
        location(&r)
            .starts_with("/hub/login?next=/hub/api/oauth2/authorize%3Fclient_id%3Djupyterhub-user-alice"),
        "{}",
        location(&r)
    );
    // An unknown client, or a redirect URI that is not the registered one: an error page, no redirect.
    let r = authorize(&app, Some(&alice), "client_id=nobody&redirect_uri=%2Fx&response_type=code").await;
    assert_eq!(r.status(), 400);
    let r = authorize(
        &app,
        Some(&alice),
        "client_id=jupyterhub-user-alice&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(location(&r).is_empty());
    // Someone else's server.
    assert_eq!(authorize(&app, Some(&bob), q).await.status(), 403);
    // Another grant type: the client hears it on its redirect URI.
    let r = authorize(&app, Some(&alice), &q.replace("response_type=code", "response_type=token")).await;
    assert_eq!(location(&r), format!("{CALLBACK}?error=unsupported_response_type"));

    // The owner: a code, exchanged once for a token that says who she is.
    let c = code(&app, &alice, "").await;
    let fields = |code: &str, secret: &str| {
        vec![
            ("client_id", "jupyterhub-user-alice".to_owned()),
            ("client_secret", secret.to_owned()),
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", CALLBACK.to_owned()),
        ]
    };
    let wrong_secret = fields(&c, "not-the-secret");
    let (status, wrong) = exchange(&app, &refs(&wrong_secret)).await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{wrong}"
    );
    // The wrong secret was tried first: the code is still unused (the client check comes before the code).
    let good = fields(&c, &secret);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, issued) = exchange(&app, &good).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["token_type"], "Bearer");
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let me = whoami(&app, &token).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!((me["kind"].as_str(), me["name"].as_str()), (Some("user"), Some("alice")), "{me}");
    let scopes: Vec<&str> = me["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(scopes.contains(&"access:servers!server=alice/"), "{scopes:?}");
    assert!(scopes.contains(&"read:users:name!user=alice"), "{scopes:?}");
    assert!(!scopes.iter().any(|s| s.starts_with("servers") || s.starts_with("tokens")), "{scopes:?}");
    // Reused: gone.
    let (status, reused) = exchange(&app, &good).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{reused}"
    );

    // A code of another client: refused, and used up.
    let c = code(&app, &alice, "").await;
    let theirs = [
        ("client_id", "jupyterhub-user-alice-two"),
        ("client_secret", other_secret.as_str()),
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", "/user/alice/two/oauth_callback"),
    ];
    assert_eq!(exchange(&app, &theirs).await.1["error"], "invalid_grant");
    // Another redirect URI than the authorization's.
    let c = code(&app, &alice, "").await;
    let mut moved = fields(&c, &secret);
    moved[4].1 = "/user/alice/elsewhere".into();
    let moved: Vec<(&str, &str)> = moved.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(exchange(&app, &moved).await.1["error"], "invalid_grant");
    // An expired code (its five minutes moved into the past).
    let c = code(&app, &alice, "").await;
    sqlx::query("UPDATE oauth_codes SET expires_at = 0").execute(app.hub.db()).await.unwrap();
    let late = fields(&c, &secret);
    let late: Vec<(&str, &str)> = late.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, expired) = exchange(&app, &late).await;
    assert_eq!(expired["error_description"], "invalid_grant: the code expired", "{expired}");
    // Another grant type.
    let mut other = good.clone();
    other[2].1 = "client_credentials";
    assert_eq!(exchange(&app, &other).await.1["error"], "unsupported_grant_type");

    // PKCE (JupyterHub 6): the verifier must match the challenge.
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefghij";
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pkce = format!("&code_challenge={challenge}&code_challenge_method=S256");
    for (sent, ok) in [(None, false), (Some("wrong-verifier"), false), (Some(verifier), true)] {
        let c = code(&app, &alice, &pkce).await;
        let mut f = fields(&c, &secret);
        if let Some(v) = sent {
            f.push(("code_verifier", v.to_owned()));
        }
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = exchange(&app, &f).await;
        assert_eq!(status == 200, ok, "{sent:?}: {body}");
    }

    // A bad token is 403 (the single-user server reads that as "log in again").
    assert_eq!(whoami(&app, "not-a-token").await.status(), 403);
    // The token ends with the browser session that authorized it.
    let logout = app
        .http
        .post(app.url("/hub/fn/logout"))
        .header("cookie", format!("{COOKIE}={alice}"))
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success() || logout.status().is_redirection(), "{}", logout.status());
    assert_eq!(whoami(&app, &token).await.status(), 403, "the token ended at logout");

    // A token issued in a new session ends when the server stops; so does the server's own token.
    let alice = app.session("alice", "alice-password").await;
    let c = code(&app, &alice, "").await;
    let fresh = fields(&c, &secret);
    let fresh: Vec<(&str, &str)> = fresh.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let token = exchange(&app, &fresh).await.1["access_token"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&app, &token).await.status(), 200);
    assert_eq!(whoami(&app, &secret).await.status(), 200, "the server's own token works while it runs");
    // The server's own token may not list users.
    let other = app
        .http
        .get(app.url("/hub/api/users"))
        .header("authorization", format!("token {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403, "the server's token lists no users");
    assert_eq!(app.server_fn("stop_server", &[("name", "")], Some(&alice)).await.status(), 200);
    assert_eq!(whoami(&app, &token).await.status(), 403, "the token ended with the server");
    assert_eq!(whoami(&app, &secret).await.status(), 403, "so did the server's own token");
    assert_eq!(authorize(&app, Some(&alice), q).await.status(), 400, "and its client");
}

/// A class arriving at once: a hundred authorizations of the same server in parallel (on the
/// hub's pool of 8 connections) all get their code, and a hundred exchanges all get their token.
/// No step holds a pooled connection while it asks for another, so none waits on itself.
#[tokio::test]
async fn a_hundred_authorizations_and_exchanges_at_once_all_answer() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let alice = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&alice, "base", "small", "").await["ready"], true);
    let secret = server_token(&app, "");

    let codes = futures_util::future::join_all((0..100).map(|_| code(&app, &alice, ""))).await;
    let distinct: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 100, "every authorization got its own code");

    let exchanges = codes.iter().map(|c| {
        let fields = [
            ("client_id", "jupyterhub-user-alice"),
            ("client_secret", secret.as_str()),
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", CALLBACK),
        ];
        let app = &app;
        async move { exchange(app, &fields).await }
    });
    let issued = futures_util::future::join_all(exchanges).await;
    for (status, body) in &issued {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert!(body["access_token"].is_string(), "{body}");
    }
}
