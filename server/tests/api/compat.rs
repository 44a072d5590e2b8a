//! What JupyterHub's own clients (jupyterhub-idle-culler, jupyterhub-singleuser, scripts written
//! for JupyterHub) rely on: absolute paging URLs, the default page size, null fields that are
//! present, and the `X-JupyterHub-Version` header.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const PAGED: &str = "application/jupyterhub-pagination+json";

/// The spec's `info.version`: the JupyterHub API version this hub implements.
fn spec_version() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference/jupyterhub-rest-api.yml");
    let spec: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    spec["info"]["version"].as_str().unwrap().to_owned()
}

async fn admin_app_with(change: impl FnOnce(&mut hub::config::Config)) -> (TestApp, String) {
    let app = TestApp::spawn_with(change).await;
    app.add_user("root", "root-password", true).await;
    let session = app.session("root", "root-password").await;
    let token = app.api_token(&session, "root", json!({})).await;
    (app, token["token"].as_str().unwrap().to_owned())
}

async fn paged_get(app: &TestApp, url: &str, token: &str, extra: &[(&str, &str)]) -> Value {
    let mut request =
        app.http.get(url).header("authorization", format!("token {token}")).header("accept", PAGED);
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_next_page_url_is_absolute_and_keeps_every_parameter() {
    let (app, root) = admin_app_with(|_| {}).await;
    let created = app
        .api(Method::POST, "/hub/api/users", &root, Some(json!({ "usernames": ["ua", "ub", "uc", "other"] })))
        .await;
    assert_eq!(created.status(), 201);

    // The culler's request: every parameter must survive into `next.url`.
    let first = app.url(
        "/hub/api/users?state=inactive&name_filter=u&include_stopped_servers=1&sort=-name&offset=0&limit=1",
    );
    let page = paged_get(&app, &first, &root, &[]).await;
    assert_eq!(page["_pagination"]["total"], 3);
    assert_eq!(
        page["_pagination"]["next"]["url"],
        app.url("/hub/api/users?state=inactive&name_filter=u&include_stopped_servers=1&sort=-name&offset=1&limit=1")
    );
    // Following `next.url` walks every matching user once, in order.
    let mut names = vec![page["items"][0]["name"].as_str().unwrap().to_owned()];
    let mut next = page["_pagination"]["next"].clone();
    while let Some(url) = next["url"].as_str() {
        assert!(url.starts_with("http://127.0.0.1:"), "absolute: {url}");
        let page = paged_get(&app, url, &root, &[]).await;
        names
            .extend(page["items"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_owned()));
        next = page["_pagination"]["next"].clone();
    }
    assert_eq!(names, ["uc", "ub", "ua"]);

    // Behind a proxy: the client's scheme and host.
    let page = paged_get(
        &app,
        &app.url("/hub/api/users?limit=2"),
        &root,
        &[("x-forwarded-proto", "https"), ("x-forwarded-host", "hub.example.org")],
    )
    .await;
    assert_eq!(page["_pagination"]["next"]["url"], "https://hub.example.org/hub/api/users?offset=2&limit=2");

    // Groups page the same way.
    for g in ["g1", "g2", "g3"] {
        assert_eq!(app.api(Method::POST, &format!("/hub/api/groups/{g}"), &root, None).await.status(), 201);
    }
    let page = paged_get(&app, &app.url("/hub/api/groups?limit=2"), &root, &[]).await;
    assert_eq!(page["_pagination"]["total"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["_pagination"]["next"]["url"], app.url("/hub/api/groups?offset=2&limit=2"));
    let last = paged_get(&app, page["_pagination"]["next"]["url"].as_str().unwrap(), &root, &[]).await;
    assert_eq!(last["items"][0]["name"], "g3");
    assert_eq!(last["_pagination"]["next"], Value::Null);
}

#[tokio::test]
async fn the_public_url_is_the_base_of_the_next_page() {
    let (app, root) =
        admin_app_with(|c| c.hub.public_url = Some("http://hub.example.org:8443/".into())).await;
    app.api(Method::POST, "/hub/api/users", &root, Some(json!({ "usernames": ["ua", "ub"] }))).await;
    let page = paged_get(&app, &app.url("/hub/api/users?limit=1&sort=name"), &root, &[]).await;
    assert_eq!(
        page["_pagination"]["next"]["url"],
        "http://hub.example.org:8443/hub/api/users?sort=name&offset=1&limit=1"
    );
}

#[tokio::test]
async fn without_the_paging_header_the_default_page_is_the_largest() {
    let (app, root) = admin_app_with(|_| {}).await;
    let names: Vec<String> = (0..250).map(|i| format!("user{i:03}")).collect();
    let created = app.api(Method::POST, "/hub/api/users", &root, Some(json!({ "usernames": names }))).await;
    assert_eq!(created.status(), 201);
    let bare: Value = app.api_get("/hub/api/users", &root).await.json().await.unwrap();
    assert_eq!(bare.as_array().unwrap().len(), 200, "JupyterHub's default without the header is its maximum");
    // With the header, the page default stays 50.
    let paged = paged_get(&app, &app.url("/hub/api/users"), &root, &[]).await;
    assert_eq!(paged["items"].as_array().unwrap().len(), 50);
    assert_eq!(paged["_pagination"]["limit"], 50);
    assert_eq!(paged["_pagination"]["total"], 251);
}

fn assert_null_fields(model: &Value, keys: &[&str], what: &str) {
    for key in keys {
        assert!(model.as_object().unwrap().contains_key(*key), "{what} must carry {key:?} (null): {model:#}");
        assert_eq!(model[*key], Value::Null, "{what}.{key}");
    }
}

#[tokio::test]
async fn absent_fields_are_null_not_missing() {
    let (app, root) = admin_app_with(|_| {}).await;
    app.add_user("alice", "alice-password", false).await;
    // A user who never signed in and has no server: what `--cull-users` reads.
    let alice: Value = app.api_get("/hub/api/users/alice", &root).await.json().await.unwrap();
    assert_null_fields(&alice, &["last_activity", "pending", "server", "auth_state"], "User");
    let listed: Value = app.api_get("/hub/api/users?name_filter=alice", &root).await.json().await.unwrap();
    assert_null_fields(&listed[0], &["last_activity", "pending", "server"], "listed User");

    // A named server created without starting: never started, never active.
    let server: Value =
        app.api(Method::PUT, "/hub/api/users/alice/servers/spare", &root, None).await.json().await.unwrap();
    assert_null_fields(&server, &["pending", "started", "last_activity", "state"], "Server");
    let with_stopped: Value =
        app.api_get("/hub/api/users/alice?include_stopped_servers", &root).await.json().await.unwrap();
    assert_null_fields(&with_stopped["servers"]["spare"], &["pending", "started", "last_activity"], "Server");

    // A token without expiry that was never used.
    let alice_session = app.session("alice", "alice-password").await;
    let created = app.api_token(&alice_session, "alice", json!({ "note": "unused" })).await;
    let listed: Value = app.api_get("/hub/api/users/alice/tokens", &root).await.json().await.unwrap();
    let token = listed["api_tokens"].as_array().unwrap().iter().find(|t| t["id"] == created["id"]).unwrap();
    assert_null_fields(token, &["expires_at", "last_activity"], "Token");
}

#[tokio::test]
async fn every_hub_response_carries_the_jupyterhub_version() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let version = spec_version();

    let mut responses = vec![
        ("health", app.get("/hub/health", None).await),
        ("api root", app.get("/hub/api/", None).await),
        ("api 403", app.get("/hub/api/user", None).await),
        ("api 404", app.get("/hub/api/users/nobody", Some(&session)).await),
        ("api user", app.get("/hub/api/user", Some(&session)).await),
        ("login page", app.get("/hub/login", None).await),
        ("guarded page", app.get("/hub/home", None).await),
        ("home page", app.get("/hub/home", Some(&session)).await),
        ("unknown page", app.get("/hub/no-such-page", Some(&session)).await),
        ("root redirect", app.get("/", None).await),
        ("proxy, signed out", app.get("/user/alice/lab", None).await),
        ("proxy, not running", app.get("/user/alice/lab", Some(&session)).await),
    ];
    responses.push((
        "csrf refusal",
        app.http
            .post(app.url("/hub/fn/logout"))
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap(),
    ));
    responses.push(("server function", app.server_fn("whoami", &[], Some(&session)).await));
    for (what, response) in responses {
        let header = response.headers().get("x-jupyterhub-version").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header.as_deref(), Some(version.as_str()), "{what} ({})", response.status());
    }
    let root: Value = app.get("/hub/api/", None).await.json().await.unwrap();
    assert_eq!(root["version"], version.as_str(), "the API root reports the same version");
}
