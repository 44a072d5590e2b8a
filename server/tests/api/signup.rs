use crate::helpers::TestApp;

fn signup_fields<'a>(name: &'a str, password: &'a str) -> [(&'static str, &'a str); 3] {
    [("username", name), ("password", password), ("confirm", password)]
}

#[tokio::test]
async fn sign_up_is_refused_when_turned_off() {
    let app = TestApp::spawn().await;
    let response = app.server_fn("signup", &signup_fields("dave", "dave-password"), None).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("turned off"));
}

#[tokio::test]
async fn a_signed_up_account_waits_for_approval() {
    let app = TestApp::spawn_with(|c| c.auth.local.allow_signup = true).await;
    app.add_user("root", "root-password", true).await;
    let response = app.server_fn("signup", &signup_fields("Dave", "dave-password"), None).await;
    assert_eq!(response.status(), 200);

    let pending = app.login("dave", "dave-password").await;
    assert_eq!(pending.status(), 403);
    assert!(pending.text().await.unwrap().contains("waiting for an administrator"));

    let admin = app.session("root", "root-password").await;
    assert_eq!(app.server_fn("admin_approve_user", &[("name", "dave")], Some(&admin)).await.status(), 200);
    assert_eq!(app.login("dave", "dave-password").await.status(), 200);

    let events: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT actor, action FROM events WHERE target = 'dave' ORDER BY id")
            .fetch_all(app.hub.db())
            .await
            .unwrap();
    assert!(events.contains(&(Some("root".into()), "user.approve".into())), "{events:?}");
}

#[tokio::test]
async fn invalid_user_names_are_refused_with_a_reason() {
    let app = TestApp::spawn_with(|c| c.auth.local.allow_signup = true).await;
    for (name, reason) in [
        ("bad/name", "may contain only"),
        ("", "empty"),
        ("-dash", "must start with"),
        ("a-very-long-user-name-that-goes-on-and-on", "longer than 32"),
        ("robert'); DROP TABLE users;--", "may contain only"),
    ] {
        let response = app.server_fn("signup", &signup_fields(name, "a-fine-password"), None).await;
        assert_eq!(response.status(), 400, "{name}");
        let body = response.text().await.unwrap();
        assert!(body.contains(reason), "{name}: {body}");
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(app.hub.db()).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_taken_name_cannot_be_signed_up_again() {
    let app = TestApp::spawn_with(|c| c.auth.local.allow_signup = true).await;
    app.add_user("erin", "erin-password", false).await;
    let response = app.server_fn("signup", &signup_fields("ERIN", "other-password"), None).await;
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("already exists"));
    assert_eq!(app.login("erin", "erin-password").await.status(), 200);
}

#[tokio::test]
async fn mismatched_passwords_are_refused() {
    let app = TestApp::spawn_with(|c| c.auth.local.allow_signup = true).await;
    let response = app
        .server_fn(
            "signup",
            &[("username", "fred"), ("password", "fred-password"), ("confirm", "fred-passw0rd")],
            None,
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("differ"));
}
