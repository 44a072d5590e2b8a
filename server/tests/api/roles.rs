//! Custom roles from `[[roles]]`, with the real engine: a group of instructors may start and stop
//! the servers of a group of students, and nothing else.

use reqwest::Method;

use crate::helpers::{TestApp, COOKIE};

async fn call(app: &TestApp, method: Method, path: &str, session: &str) -> reqwest::StatusCode {
    app.http
        .request(method, app.url(path))
        .header("cookie", format!("{COOKIE}={session}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn group(app: &TestApp, name: &str, members: &[&str]) {
    let mut users = Vec::new();
    for m in members {
        let name = hub::domain::UserName::parse(m).unwrap();
        users.push(hub::users::find(&app.hub, &name).await.unwrap().unwrap());
    }
    let name = hub::domain::GroupName::parse(name).unwrap();
    hub::groups::create(&app.hub, None, &name, &users).await.unwrap();
}

#[tokio::test]
async fn instructors_start_and_stop_their_students_servers_and_nothing_else() {
    let app = TestApp::spawn_with(|c| {
        c.roles.push(hub::config::RoleConfig {
            name: "instructors".into(),
            description: "start and stop the students' servers".into(),
            scopes: vec!["servers!group=students".into(), "read:users!group=students".into()],
            users: vec![],
            groups: vec!["instructors".into()],
            services: vec![],
        });
    })
    .await;
    for name in ["ivy", "sam", "oli"] {
        app.add_user(name, "user-password-1", false).await;
    }
    group(&app, "instructors", &["ivy"]).await;
    group(&app, "students", &["sam"]).await;
    let ivy = app.session("ivy", "user-password-1").await;
    let oli = app.session("oli", "user-password-1").await;

    // Ivy starts Sam's server, sees it, and stops it.
    assert_eq!(call(&app, Method::POST, "/hub/api/users/sam/server", &ivy).await, 202);
    let progress = app.get("/hub/api/users/sam/server/progress", Some(&ivy)).await;
    assert_eq!(progress.status(), 200);
    let events =
        tokio::time::timeout(std::time::Duration::from_secs(180), progress.text()).await.unwrap().unwrap();
    assert!(events.contains("\"ready\":true"), "{events}");
    assert_eq!(call(&app, Method::GET, "/hub/api/users/sam", &ivy).await, 200);
    assert_eq!(call(&app, Method::DELETE, "/hub/api/users/sam/server", &ivy).await, 204);
    // Nothing else: not Oli's server (not a student), not the user list, not admin pages.
    assert_eq!(call(&app, Method::POST, "/hub/api/users/oli/server", &ivy).await, 404);
    assert_eq!(call(&app, Method::GET, "/hub/api/users", &ivy).await, 403);
    assert_eq!(call(&app, Method::DELETE, "/hub/api/users/sam", &ivy).await, 403);
    // The role is the instructors': Oli cannot start Sam's server.
    assert_eq!(call(&app, Method::POST, "/hub/api/users/sam/server", &oli).await, 404);
    // A token Ivy makes may carry the role's scope, and it works as the role does.
    let made = app
        .http
        .post(app.url("/hub/api/users/ivy/tokens"))
        .header("cookie", format!("{COOKIE}={ivy}"))
        .json(&serde_json::json!({ "scopes": ["servers!group=students"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let token: serde_json::Value = made.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let with_token = |method: Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .header("authorization", format!("token {token}"))
            .json(&serde_json::json!({}))
            .send()
    };
    assert_eq!(with_token(Method::POST, "/hub/api/users/sam/server").await.unwrap().status(), 202);
    assert_eq!(with_token(Method::POST, "/hub/api/users/oli/server").await.unwrap().status(), 404);
    // JupyterHub's /hub/spawn asks the same policy: Ivy passes for Sam (his server is starting:
    // to its progress page), not for Oli.
    let spawn = app.get("/hub/spawn/sam", Some(&ivy)).await;
    assert_eq!(spawn.status(), 303, "{:?}", spawn.text().await);
    let to = spawn.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/hub/spawn-pending/sam"), "{to}");
    assert_eq!(app.get("/hub/spawn/oli", Some(&ivy)).await.status(), 403);
}
