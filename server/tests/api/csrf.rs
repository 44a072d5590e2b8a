use crate::helpers::{TestApp, COOKIE};

#[tokio::test]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;

    let forged = app
        .http
        .post(app.url("/hub/fn/logout"))
        .header("cookie", format!("{COOKIE}={session}"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // The session survived.
    assert_eq!(app.get("/hub/home", Some(&session)).await.status(), 200);
}

#[tokio::test]
async fn fetch_metadata_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let forged = app
        .http
        .post(app.url("/hub/fn/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(crate::helpers::session_cookie(forged.headers()).is_none());
}

#[tokio::test]
async fn a_same_origin_post_is_accepted() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let response = app
        .http
        .post(app.url("/hub/fn/login"))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Tokens of alice, listed through her session.
async fn tokens_of_alice(app: &TestApp, session: &str) -> Vec<serde_json::Value> {
    let listed: serde_json::Value =
        app.get("/hub/api/users/alice/tokens", Some(session)).await.json().await.unwrap();
    listed["api_tokens"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_authorization_header_does_not_excuse_a_cross_site_server_function() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let forged = app
        .http
        .post(app.url("/hub/fn/create_token"))
        .header("cookie", format!("{COOKIE}={session}"))
        .header("origin", "http://evil.example")
        .header("authorization", "Basic eDp4")
        .form(&[("note", "forged"), ("expires_in", ""), ("scopes", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "{}", forged.text().await.unwrap_or_default());
    assert!(tokens_of_alice(&app, &session).await.is_empty(), "no token was created");

    // Not even a valid token in the header lets a cookie-authenticated server function through.
    let real = app.api_token(&session, "alice", serde_json::json!({ "note": "real" })).await;
    let real = real["token"].as_str().unwrap();
    let forged = app
        .http
        .post(app.url("/hub/fn/logout"))
        .header("cookie", format!("{COOKIE}={session}"))
        .header("origin", "http://evil.example")
        .header("authorization", format!("token {real}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get("/hub/home", Some(&session)).await.status(), 200, "the session survived");
}

#[tokio::test]
async fn a_cross_site_api_write_with_a_cookie_and_a_bogus_authorization_creates_nothing() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    for authorization in ["Basic eDp4", "token not-a-token", "Bearer not-a-token", "Negotiate abc"] {
        let forged = app
            .http
            .post(app.url("/hub/api/users/alice/tokens"))
            .header("cookie", format!("{COOKIE}={session}"))
            .header("origin", "http://evil.example")
            .header("authorization", authorization)
            .json(&serde_json::json!({ "note": "forged" }))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "{authorization}");
    }
    assert!(tokens_of_alice(&app, &session).await.is_empty(), "no token was created");
}

#[tokio::test]
async fn a_real_token_still_works_from_another_site() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let real = app.api_token(&session, "alice", serde_json::json!({ "note": "real" })).await;
    let real = real["token"].as_str().unwrap();
    for scheme in ["token", "Bearer"] {
        let response = app
            .http
            .post(app.url("/hub/api/users/alice/tokens"))
            .header("origin", "http://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("authorization", format!("{scheme} {real}"))
            .json(&serde_json::json!({ "note": scheme }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{scheme}: {}", response.text().await.unwrap_or_default());
    }
    assert_eq!(tokens_of_alice(&app, &session).await.len(), 3);
}
