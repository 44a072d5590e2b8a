//! Sign-in hardening (issue 9): crafted `next` values, concurrent wrong passwords, lock-out by
//! strangers, and admins removing themselves through the REST API.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Value};

use crate::helpers::{session_cookie, TestApp};

fn location(response: &reqwest::Response) -> Option<String> {
    response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A client whose connections come from another loopback address (traffic still goes to 127.0.0.1).
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    crate::helpers::client_builder().local_address(IpAddr::V4(address)).build().expect("client")
}

async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/hub/fn/login"))
        .form(&[("username", name), ("password", password)])
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn a_next_with_control_characters_never_leaves_the_site_nor_breaks_the_sign_in() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    // `%2F%09%2Fevil.example` decoded by the form is `/\t/evil.example`; browsers drop the TAB
    // and follow `//evil.example`. The others panicked inside leptos_axum's redirect.
    for next in ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\x0b/evil.example", "/hub/\nx"]
    {
        let response = app
            .server_fn(
                "login",
                &[("username", "alice"), ("password", "alice-password"), ("next", next)],
                None,
            )
            .await;
        assert_eq!(response.status(), 200, "sign-in with next {next:?} succeeds");
        assert!(session_cookie(response.headers()).is_some(), "a session is set for next {next:?}");
        assert_eq!(location(&response).as_deref(), Some("/hub/home"), "next {next:?}");
    }
    // Encoded control characters are refused too; an ordinary local path is kept.
    for (next, expected) in [("/%09/evil.example", "/hub/home"), ("/hub/token?x=%2F", "/hub/token?x=%2F")] {
        let response = app
            .server_fn(
                "login",
                &[("username", "alice"), ("password", "alice-password"), ("next", next)],
                None,
            )
            .await;
        assert_eq!(location(&response).as_deref(), Some(expected), "next {next:?}");
    }
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_checked_at_most_the_limit() {
    let app = TestApp::spawn_with(|c| {
        c.auth.local.lockout_max_failures = 5;
        c.auth.local.lockout_window_seconds = 300;
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    let attempts = (0..20).map(|_| app.login("alice", "wrong-password"));
    let answers = futures_util::future::join_all(attempts).await;
    let checked = answers.iter().filter(|r| r.status() == 400).count();
    let refused = answers.iter().filter(|r| r.status() == 429).count();
    assert_eq!(checked + refused, 20, "every attempt is answered 400 or 429");
    assert!(checked <= 5, "{checked} of 20 concurrent wrong passwords were checked; the limit is 5");
    // And the right password is refused while the lockout lasts, from this client.
    assert_eq!(app.login("alice", "alice-password").await.status(), 429);
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_admin_out() {
    let app = TestApp::spawn_with(|c| {
        c.auth.local.lockout_max_failures = 3;
        c.auth.local.lockout_window_seconds = 300;
    })
    .await;
    app.add_user("admin", "admin-password", true).await;
    let stranger = client_from(Ipv4Addr::new(127, 0, 0, 2));
    for _ in 0..3 {
        assert_eq!(login_from(&app, &stranger, "admin", "wrong-password").await.status(), 400);
    }
    assert_eq!(login_from(&app, &stranger, "admin", "admin-password").await.status(), 429);
    // The admin, from their own address, still signs in.
    let own = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let response = login_from(&app, &own, "admin", "admin-password").await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

#[tokio::test]
async fn the_cli_recovery_path_unlocks_a_name() {
    let app = TestApp::spawn_with(|c| {
        c.auth.local.lockout_max_failures = 2;
        c.auth.local.lockout_window_seconds = 300;
    })
    .await;
    app.add_user("admin", "admin-password", true).await;
    for _ in 0..2 {
        app.login("admin", "wrong-password").await;
    }
    assert_eq!(app.login("admin", "admin-password").await.status(), 429);
    // The administrator's recovery path: the CLI, on the same database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ganymede"))
        .args(["user", "unlock", "admin"])
        .env_remove("GANYMEDE_CONFIG")
        .env("GANYMEDE_HUB__DATA_DIR", &app.hub.config().hub.data_dir)
        .env("GANYMEDE_DATABASE__URL", app.hub.config().database_url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("the CLI runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("admin unlocked (2 failed sign-ins forgotten)"), "{stdout}");
    assert_eq!(app.login("admin", "admin-password").await.status(), 200);
}

#[tokio::test]
async fn an_admin_cannot_demote_or_delete_themselves_through_the_api() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("root", "root-password").await;
    let token = app.api_token(&session, "root", json!({ "note": "admin script" })).await;
    let secret = token["token"].as_str().unwrap();

    let demote = app
        .http
        .patch(app.url("/hub/api/users/root"))
        .header("authorization", format!("token {secret}"))
        .json(&json!({ "admin": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 400);
    let body: Value = demote.json().await.unwrap();
    assert_eq!(body["status"], 400);
    assert!(body["message"].as_str().unwrap().contains("your own admin"), "{body}");

    let delete = app
        .http
        .delete(app.url("/hub/api/users/root"))
        .header("authorization", format!("token {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 400);
    let body: Value = delete.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("yourself"), "{body}");

    let me: Value = app.api_get("/hub/api/users/root", secret).await.json().await.unwrap();
    assert_eq!(me["admin"], true, "still an admin");

    // Other users can still be changed and removed.
    let promote = app
        .http
        .patch(app.url("/hub/api/users/bob"))
        .header("authorization", format!("token {secret}"))
        .json(&json!({ "admin": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(promote.status(), 200);
    let gone = app
        .http
        .delete(app.url("/hub/api/users/bob"))
        .header("authorization", format!("token {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
}
