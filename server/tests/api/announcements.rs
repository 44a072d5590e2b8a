//! Admins' announcements: published and taken down from the admin page's server functions,
//! shown on the pages they are for at once (no restart), Markdown rendered with nothing in it
//! that runs, expired ones gone, every change audited.

use serde_json::Value;

use crate::helpers::TestApp;

async fn shown(app: &TestApp, page: &str) -> Vec<Value> {
    let response = app.server_fn("announcements", &[("page", page)], None).await;
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().await.unwrap()
}

async fn announce(
    app: &TestApp,
    session: &str,
    body: &str,
    placement: &str,
    hours: &str,
) -> reqwest::Response {
    app.server_fn(
        "admin_announce",
        &[("body", body), ("placement", placement), ("expires_in_hours", hours)],
        Some(session),
    )
    .await
}

#[tokio::test]
async fn announcements_show_where_they_are_for_until_they_expire_or_are_taken_down() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    let root = app.session("root", "root-password").await;
    let alice = app.session("alice", "alice-password").await;
    assert!(shown(&app, "login").await.is_empty());

    // Only admins publish; bad input is refused with the reason.
    assert_eq!(announce(&app, &alice, "hello", "all", "").await.status(), 403);
    assert_eq!(announce(&app, &root, "   ", "all", "").await.status(), 400);
    assert_eq!(announce(&app, &root, "hi", "everywhere", "").await.status(), 400);
    assert_eq!(announce(&app, &root, "hi", "all", "-3").await.status(), 400);
    assert_eq!(announce(&app, &root, &"x".repeat(4001), "all", "").await.status(), 400);

    let body = "**Maintenance** tonight at 18:00, see [the plan](https://example.org/plan) <script>alert(1)</script>";
    assert_eq!(announce(&app, &root, body, "login", "2").await.status(), 200);
    assert_eq!(announce(&app, &root, "Welcome to the _new_ term", "all", "").await.status(), 200);
    assert_eq!(announce(&app, &root, "Your servers stop at midnight", "dashboard", "").await.status(), 200);

    let login = shown(&app, "login").await;
    let html: Vec<&str> = login.iter().map(|a| a["html"].as_str().unwrap()).collect();
    assert_eq!(html.len(), 2, "the sign-in page's and every page's: {login:?}");
    let maintenance = html.iter().find(|h| h.contains("Maintenance")).unwrap();
    assert!(maintenance.contains("<strong>Maintenance</strong>"), "{maintenance}");
    assert!(maintenance.contains("href=\"https://example.org/plan\""), "{maintenance}");
    assert!(!maintenance.contains("<script") && maintenance.contains("&lt;script&gt;"), "{maintenance}");
    let dashboard = shown(&app, "dashboard").await;
    assert_eq!(dashboard.len(), 2);
    assert!(dashboard.iter().any(|a| a["html"].as_str().unwrap().contains("midnight")));
    let other = shown(&app, "other").await;
    assert_eq!(other.len(), 1);
    assert!(other[0]["html"].as_str().unwrap().contains("<em>new</em>"));

    // An expiry passes: it is gone from the pages and stays in the admin's list.
    assert_eq!(announce(&app, &root, "A short one", "all", "0.0003").await.status(), 200);
    assert!(shown(&app, "other").await.iter().any(|a| a["body"] == "A short one"));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!shown(&app, "other").await.iter().any(|a| a["body"] == "A short one"));
    let all: Vec<Value> = app.server_fn("admin_announcements", &[], Some(&root)).await.json().await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(app.server_fn("admin_announcements", &[], Some(&alice)).await.status(), 403);

    // Taken down: gone at once.
    let welcome = all.iter().find(|a| a["body"] == "Welcome to the _new_ term").unwrap()["id"].to_string();
    let down = app.server_fn("admin_unannounce", &[("id", &welcome)], Some(&root)).await;
    assert_eq!(down.status(), 200);
    assert!(shown(&app, "other").await.is_empty());
    assert_eq!(app.server_fn("admin_unannounce", &[("id", &welcome)], Some(&root)).await.status(), 404);

    let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE action LIKE 'announcement.%'")
        .fetch_one(app.hub.db())
        .await
        .unwrap();
    assert_eq!(audited, 5, "four published, one taken down");
}
