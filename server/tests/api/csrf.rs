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
