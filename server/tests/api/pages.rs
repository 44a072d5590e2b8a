use crate::helpers::{is_login_redirect, TestApp};

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_with_next() {
    let app = TestApp::spawn().await;
    for page in ["/hub/home", "/hub/account", "/hub/admin"] {
        let response = app.get(page, None).await;
        assert!(is_login_redirect(&response), "{page}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("/hub/login?next={page}"));
    }
    let root = app.get("/", None).await;
    assert_eq!(root.headers()["location"], "/hub/home");
}

#[tokio::test]
async fn the_login_page_renders_a_form() {
    let app = TestApp::spawn().await;
    let response = app.get("/hub/login", None).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("<form action=\"/hub/fn/login\" method=\"post\""), "{body}");
}

const LIST: &[(&str, &str)] =
    &[("search", ""), ("sort", "name"), ("active_only", "false"), ("page", "0"), ("page_size", "50")];

#[tokio::test]
async fn non_admins_are_refused_from_admin_pages_and_functions() {
    let app = TestApp::spawn().await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("bob", "bob-password").await;
    for page in ["/hub/admin", "/hub/admin/", "/hub/admin/groups", "/hub/admin/log"] {
        assert_eq!(app.get(page, Some(&session)).await.status(), 403, "{page}");
    }
    let listed = app.server_fn("admin_users", LIST, Some(&session)).await;
    assert_eq!(listed.status(), 403);
    let approved = app.server_fn("admin_approve_user", &[("name", "bob")], Some(&session)).await;
    assert_eq!(approved.status(), 403);
    let anonymous = app.server_fn("admin_users", LIST, None).await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn admins_see_the_users() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("root", "root-password").await;
    let page = app.get("/hub/admin", Some(&session)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-user=\"bob\""), "the page renders the rows on the server: {html}");
    for other in ["/hub/admin/groups", "/hub/admin/log"] {
        assert_eq!(app.get(other, Some(&session)).await.status(), 200, "{other}");
    }
    let listed = app.server_fn("admin_users", LIST, Some(&session)).await;
    assert_eq!(listed.status(), 200);
    let listing: serde_json::Value = listed.json().await.unwrap();
    let names: Vec<&str> =
        listing["users"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob", "root"]);
}

#[tokio::test]
async fn signed_in_people_skip_the_login_page() {
    let app = TestApp::spawn().await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("bob", "bob-password").await;
    let response = app.get("/hub/login", Some(&session)).await;
    assert_eq!(response.headers()["location"], "/hub/home");
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/hub/no-such-page", None).await.status(), 404);
}

/// Flavour icons are images the site ships (emoji render as empty boxes without an emoji font).
#[tokio::test]
async fn the_flavour_icons_are_images_the_site_serves() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let options: serde_json::Value =
        app.server_fn("launch_options", &[], Some(&session)).await.json().await.unwrap();
    let icons: Vec<&str> =
        options["flavours"].as_array().unwrap().iter().filter_map(|f| f["icon"].as_str()).collect();
    assert_eq!(icons, ["planet", "chart"], "{options}");
    for icon in icons {
        let svg = app.get(&format!("/icons/{icon}.svg"), None).await;
        assert_eq!(svg.status(), 200, "{icon}");
        assert!(svg.text().await.unwrap().starts_with("<svg"), "{icon}");
    }
    // Sizes say plainly what they give.
    let small = options["sizes"].as_array().unwrap().iter().find(|s| s["id"] == "small").unwrap();
    assert_eq!(small["summary"], "1 CPU · 2 GiB", "{small}");
}
