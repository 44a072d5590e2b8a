use std::time::Duration;

use crate::helpers::{is_login_redirect, session_cookie, TestApp};

#[tokio::test]
async fn sessions_expire_after_max_age() {
    let app = TestApp::spawn_with(|c| c.session.max_age_seconds = 1).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.get("/hub/home", Some(&session)).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(is_login_redirect(&app.get("/hub/home", Some(&session)).await));
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;

    let response = app.server_fn("logout", &[], Some(&session)).await;
    assert_eq!(response.status(), 200);
    // The cookie is cleared in the browser...
    let cleared = crate::helpers::set_cookie_header(response.headers()).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(session_cookie(response.headers()).as_deref(), Some(""));
    // ...and a copy of the old value no longer works.
    assert!(is_login_redirect(&app.get("/hub/home", Some(&session)).await));
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(app.hub.db()).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn logging_out_one_session_keeps_the_others() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let laptop = app.session("alice", "alice-password").await;
    let phone = app.session("alice", "alice-password").await;
    app.server_fn("logout", &[], Some(&laptop)).await;
    assert!(is_login_redirect(&app.get("/hub/home", Some(&laptop)).await));
    assert_eq!(app.get("/hub/home", Some(&phone)).await.status(), 200);
}

#[tokio::test]
async fn a_password_reset_ends_existing_sessions() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let name = hub::domain::UserName::parse("alice").unwrap();
    hub::accounts::set_password(&app.hub, None, &app.hub.config().auth.local, &name, "brand-new-password")
        .await
        .unwrap();
    assert!(is_login_redirect(&app.get("/hub/home", Some(&session)).await));
    assert_eq!(app.login("alice", "alice-password").await.status(), 400);
    assert_eq!(app.login("alice", "brand-new-password").await.status(), 200);
}

#[tokio::test]
async fn users_change_their_own_password() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let wrong = app
        .server_fn(
            "change_password",
            &[("current", "nope"), ("new", "alice-new-pass"), ("confirm", "alice-new-pass")],
            Some(&session),
        )
        .await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("current password is wrong"));
    let short = app
        .server_fn(
            "change_password",
            &[("current", "alice-password"), ("new", "short"), ("confirm", "short")],
            Some(&session),
        )
        .await;
    assert!(short.text().await.unwrap().contains("at least 8 characters"));
    let same_as_name = app
        .server_fn(
            "change_password",
            &[("current", "alice-password"), ("new", "ALICE"), ("confirm", "ALICE")],
            Some(&session),
        )
        .await;
    assert_eq!(same_as_name.status(), 400);
    let ok = app
        .server_fn(
            "change_password",
            &[("current", "alice-password"), ("new", "alice-new-pass"), ("confirm", "alice-new-pass")],
            Some(&session),
        )
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(app.login("alice", "alice-password").await.status(), 400);
    assert_eq!(app.login("alice", "alice-new-pass").await.status(), 200);
}

#[tokio::test]
async fn changing_a_password_needs_a_session() {
    let app = TestApp::spawn().await;
    let response = app
        .server_fn(
            "change_password",
            &[("current", "a"), ("new", "bbbbbbbbb"), ("confirm", "bbbbbbbbb")],
            None,
        )
        .await;
    assert_eq!(response.status(), 401);
}
