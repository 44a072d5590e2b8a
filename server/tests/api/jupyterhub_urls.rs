//! JupyterHub's URLs that JupyterLab's hub menu and people's bookmarks use, with the real engine:
//! `/hub/spawn[/USER[/SERVER]]` with `opt-` user options, `/hub/user-redirect/…`, `GET /hub/logout`.

use std::time::Duration;

use crate::helpers::{is_login_redirect, TestApp};

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn spawn_user_redirect_and_logout_behave_as_jupyterhubs() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password-1", false).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password-1").await;

    // Signed out: the sign-in page first, coming back.
    let r = app.get("/hub/spawn?opt-flavour=base", None).await;
    assert!(is_login_redirect(&r), "{}", location(&r));
    // A bookmark into one's own server goes through /hub/spawn with where it was going.
    let r = app.get("/hub/user-redirect/lab/tree/x.ipynb?reset", Some(&alice)).await;
    assert_eq!(location(&r), "/hub/spawn/alice?next=/user/alice/lab/tree/x.ipynb%3Freset");
    // Bad options are a clear 400; someone else's server is not Bob's to start.
    let r = app.get("/hub/spawn?opt-size=enormous", Some(&alice)).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("enormous"));
    assert_eq!(app.get("/hub/spawn/alice", Some(&bob)).await.status(), 403);
    assert_eq!(app.get("/hub/spawn/nobody", Some(&alice)).await.status(), 403);

    // A start with user options: to the progress page, keeping `next`.
    let r = app
        .get("/hub/spawn/alice?opt-flavour=base&opt-size=small&next=%2Fuser%2Falice%2Flab", Some(&alice))
        .await;
    assert_eq!(location(&r), "/hub/spawn-pending/alice?next=/user/alice/lab");
    assert_eq!(app.final_progress(&alice, "").await["ready"], true);
    let model: serde_json::Value = app.get("/hub/api/users/alice", Some(&alice)).await.json().await.unwrap();
    assert_eq!(model["servers"][""]["user_options"]["size"], "small", "{model}");
    // Running: straight to `next` (here, the server).
    let r = app.get("/hub/spawn", Some(&alice)).await;
    assert_eq!(location(&r), "/user/alice/");

    // GET /hub/logout (JupyterLab's Log Out) ends the session and clears the cookie.
    let r = app.get("/hub/logout", Some(&alice)).await;
    assert_eq!(location(&r), "/hub/login");
    let cleared = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("Max-Age=0"));
    assert!(cleared);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(is_login_redirect(&app.get("/hub/home", Some(&alice)).await), "the session ended");
}
