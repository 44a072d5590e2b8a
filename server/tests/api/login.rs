use crate::helpers::{is_login_redirect, session_cookie, set_cookie_header, TestApp};

#[tokio::test]
async fn right_password_starts_a_session_with_a_safe_cookie() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;

    let response = app.login("Alice", "alice-password").await;
    assert_eq!(response.status(), 200);
    let header = set_cookie_header(response.headers()).expect("session cookie set");
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Lax"), "{header}");
    assert!(header.contains("Path=/"), "{header}");
    assert!(!header.contains("Secure"), "plain http hub: {header}");
    let session = session_cookie(response.headers()).unwrap();

    let home = app.get("/hub/home", Some(&session)).await;
    assert_eq!(home.status(), 200);
    let body = home.text().await.unwrap().replace("<!>", "");
    assert!(body.contains("Welcome, alice"), "{body}");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(|c| c.hub.public_url = Some("https://hub.example.org/".into())).await;
    app.add_user("alice", "alice-password", false).await;
    let response = app.login("alice", "alice-password").await;
    let header = set_cookie_header(response.headers()).unwrap();
    assert!(header.contains("; Secure"), "{header}");
}

#[tokio::test]
async fn the_session_is_stored_hashed() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM sessions").fetch_all(app.hub.db()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], session);
    assert!(!stored[0].contains(&session));
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE name = 'alice'")
        .fetch_one(app.hub.db())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[tokio::test]
async fn wrong_password_is_refused_without_a_session() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let response = app.login("alice", "wrong-password").await;
    assert_eq!(response.status(), 400);
    assert!(session_cookie(response.headers()).is_none());
    assert!(response.text().await.unwrap().contains("Invalid user name or password."));
}

#[tokio::test]
async fn unknown_and_invalid_names_get_the_same_answer_as_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let wrong = app.login("alice", "wrong-password").await.text().await.unwrap();
    let unknown = app.login("nobody", "wrong-password").await.text().await.unwrap();
    let invalid = app.login("no/body", "wrong-password").await.text().await.unwrap();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, invalid);
}

#[tokio::test]
async fn repeated_failures_lock_the_name_out_even_with_the_right_password() {
    let app = TestApp::spawn_with(|c| {
        c.auth.local.lockout_max_failures = 3;
        c.auth.local.lockout_window_seconds = 60;
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    for _ in 0..3 {
        assert_eq!(app.login("alice", "wrong-password").await.status(), 400);
    }
    let locked = app.login("alice", "alice-password").await;
    assert_eq!(locked.status(), 429);
    assert!(session_cookie(locked.headers()).is_none());
    let body = locked.text().await.unwrap();
    assert!(body.contains("Too many failed sign-ins"), "{body}");

    // Another user is not affected.
    app.add_user("bob", "bob-password", false).await;
    assert_eq!(app.login("bob", "bob-password").await.status(), 200);
}

#[tokio::test]
async fn lockout_does_not_reveal_which_names_exist() {
    let app = TestApp::spawn_with(|c| c.auth.local.lockout_max_failures = 2).await;
    app.add_user("alice", "alice-password", false).await;
    for name in ["alice", "ghost"] {
        app.login(name, "wrong-password").await;
        app.login(name, "wrong-password").await;
    }
    let real = app.login("alice", "x").await;
    let ghost = app.login("ghost", "x").await;
    assert_eq!(real.status(), 429);
    assert_eq!(ghost.status(), 429);
}

#[tokio::test]
async fn lockout_ends_when_the_window_passes() {
    let app = TestApp::spawn_with(|c| {
        c.auth.local.lockout_max_failures = 1;
        c.auth.local.lockout_window_seconds = 1;
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    app.login("alice", "wrong-password").await;
    assert_eq!(app.login("alice", "alice-password").await.status(), 429);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(app.login("alice", "alice-password").await.status(), 200);
}

#[tokio::test]
async fn a_successful_sign_in_redirects_to_a_local_next_only() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let local = app
        .server_fn(
            "login",
            &[("username", "alice"), ("password", "alice-password"), ("next", "/hub/account")],
            None,
        )
        .await;
    assert_eq!(local.headers().get("location").and_then(|v| v.to_str().ok()), Some("/hub/account"));
    let offsite = app
        .server_fn(
            "login",
            &[("username", "alice"), ("password", "alice-password"), ("next", "//evil.example/")],
            None,
        )
        .await;
    assert_eq!(offsite.headers().get("location").and_then(|v| v.to_str().ok()), Some("/hub/home"));
}

#[tokio::test]
async fn a_forged_cookie_is_treated_as_signed_out() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let response = app.get("/hub/home", Some("forged-value-that-is-not-a-session")).await;
    assert!(is_login_redirect(&response));
    let huge = "x".repeat(4000);
    assert!(is_login_redirect(&app.get("/hub/home", Some(&huge)).await));
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let app = TestApp::spawn().await;
    let big = "a".repeat(2 * 1024 * 1024);
    let response = app.server_fn("login", &[("username", "alice"), ("password", &big)], None).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn malformed_server_function_input_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .post(app.url("/hub/fn/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=%ZZ&&&password")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}
