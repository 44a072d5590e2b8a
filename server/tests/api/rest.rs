//! The JupyterHub-compatible REST API: authentication, scopes, users, tokens.

use serde_json::{json, Value};

use crate::helpers::{TestApp, COOKIE};

impl TestApp {
    /// An API token for `user`, made through the API with their session.
    pub async fn api_token(&self, session: &str, user: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/hub/api/users/{user}/tokens")))
            .header("cookie", format!("{COOKIE}={session}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        response.json().await.unwrap()
    }

    pub async fn api_get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).header("authorization", format!("token {token}")).send().await.unwrap()
    }
}

#[tokio::test]
async fn the_root_answers_a_version_without_authentication() {
    let app = TestApp::spawn().await;
    let body: Value = app.get("/hub/api/", None).await.json().await.unwrap();
    assert!(body["version"].as_str().unwrap().starts_with('6'), "the spec's info.version: {body}");
}

#[tokio::test]
async fn requests_without_credentials_or_with_bad_tokens_are_403_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let none = app.get("/hub/api/user", None).await;
    assert_eq!(none.status(), 403);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["status"], 403);
    assert!(body["message"].as_str().unwrap().contains("credentials"));
    assert_eq!(app.api_get("/hub/api/user", "made-up").await.status(), 403);
    let odd =
        app.http.get(app.url("/hub/api/user")).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(odd.status(), 403);
}

#[tokio::test]
async fn whoami_reports_the_user_and_the_scopes_of_the_credentials() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let me: Value = app.get("/hub/api/user", Some(&session)).await.json().await.unwrap();
    assert_eq!(me["name"], "alice");
    assert_eq!(me["kind"], "user");
    assert_eq!(me["admin"], false);
    assert!(me["scopes"].as_array().unwrap().contains(&json!("read:users!user=alice")));
    assert_eq!(me["token_id"], Value::Null);

    let token =
        app.api_token(&session, "alice", json!({ "note": "cli", "scopes": ["read:users!user=alice"] })).await;
    let secret = token["token"].as_str().unwrap();
    let me: Value = app.api_get("/hub/api/user", secret).await.json().await.unwrap();
    assert_eq!(me["token_id"], token["id"]);
    let scopes: Vec<&str> = me["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(scopes.contains(&"read:users!user=alice"));
    assert!(!scopes.iter().any(|s| s.starts_with("servers")), "{scopes:?}");
    // Bearer works too.
    let bearer = app
        .http
        .get(app.url("/hub/api/user"))
        .header("authorization", format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
}

#[tokio::test]
async fn a_token_limited_to_bob_cannot_see_alice() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("root", "root-password").await;
    let token = app.api_token(&session, "root", json!({ "scopes": ["read:users!user=bob"] })).await;
    let secret = token["token"].as_str().unwrap();

    let bob = app.api_get("/hub/api/users/bob", secret).await;
    assert_eq!(bob.status(), 200);
    let bob: Value = bob.json().await.unwrap();
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["servers"], json!({}));
    // Hidden by the filter: 404, as if alice did not exist.
    assert_eq!(app.api_get("/hub/api/users/alice", secret).await.status(), 404);
    assert_eq!(app.api_get("/hub/api/users/nobody", secret).await.status(), 404);
    // No token scope at all: 403.
    assert_eq!(app.api_get("/hub/api/users/bob/tokens", secret).await.status(), 403);
    assert_eq!(app.api_get("/hub/api/info", secret).await.status(), 403);
}

#[tokio::test]
async fn users_cannot_read_each_other_but_admins_can() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let alice = app.session("alice", "alice-password").await;
    assert_eq!(app.get("/hub/api/users/alice", Some(&alice)).await.status(), 200);
    assert_eq!(app.get("/hub/api/users/bob", Some(&alice)).await.status(), 404);
    assert_eq!(app.get("/hub/api/info", Some(&alice)).await.status(), 403);
    let root = app.session("root", "root-password").await;
    let bob: Value = app.get("/hub/api/users/bob", Some(&root)).await.json().await.unwrap();
    assert_eq!(bob["admin"], false);
    assert_eq!(bob["roles"], json!(["user"]));
    let info = app.get("/hub/api/info", Some(&root)).await;
    assert_eq!(info.status(), 200);
}

#[tokio::test]
async fn tokens_are_listed_read_and_revoked_and_never_shown_again() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let created = app.api_token(&session, "alice", json!({ "note": "laptop", "expires_in": 3600 })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert_eq!(created["note"], "laptop");
    assert!(created["expires_at"].is_string());

    let listed: Value = app.api_get("/hub/api/users/alice/tokens", &secret).await.json().await.unwrap();
    assert_eq!(listed["api_tokens"].as_array().unwrap().len(), 1);
    assert!(listed.to_string().find(&secret).is_none(), "the token is never listed");
    let one: Value =
        app.api_get(&format!("/hub/api/users/alice/tokens/{id}"), &secret).await.json().await.unwrap();
    assert_eq!(one["id"], id.as_str());
    assert!(one["last_activity"].is_string());

    let revoked = app
        .http
        .delete(app.url(&format!("/hub/api/users/alice/tokens/{id}")))
        .header("authorization", format!("token {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(app.api_get("/hub/api/user", &secret).await.status(), 403);
    assert_eq!(app.get(&format!("/hub/api/users/alice/tokens/{id}"), Some(&session)).await.status(), 404);
}

#[tokio::test]
async fn token_requests_are_validated() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let post = |body: &'static str| {
        app.http
            .post(app.url("/hub/api/users/alice/tokens"))
            .header("cookie", format!("{COOKIE}={session}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status, message) in [
        ("{not json", 400, "invalid JSON"),
        (r#"{"note": "x", "colour": "red"}"#, 400, "unknown field"),
        (r#"{"scopes": ["read:everything"]}"#, 400, "unknown scope"),
        (r#"{"scopes": ["admin:users"]}"#, 403, "does not have it"),
        (r#"{"expires_in": -5}"#, 400, "expires_in"),
    ] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["status"], status);
        assert!(error["message"].as_str().unwrap().contains(message), "{body}: {error}");
    }
    // Another user's tokens are not alice's to make.
    app.add_user("bob", "bob-password", false).await;
    let response = app
        .http
        .post(app.url("/hub/api/users/bob/tokens"))
        .header("cookie", format!("{COOKIE}={session}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn cookie_authenticated_api_writes_from_another_site_are_refused() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let response = app
        .http
        .post(app.url("/hub/api/users/alice/tokens"))
        .header("cookie", format!("{COOKIE}={session}"))
        .header("origin", "http://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let listed: Value = app.get("/hub/api/users/alice/tokens", Some(&session)).await.json().await.unwrap();
    assert_eq!(listed["api_tokens"], json!([]));
}

async fn admin_app() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    let session = app.session("root", "root-password").await;
    let token = app.api_token(&session, "root", json!({})).await;
    (app, token["token"].as_str().unwrap().to_owned())
}

impl TestApp {
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request =
            self.http.request(method, self.url(path)).header("authorization", format!("token {token}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test]
async fn admins_create_patch_and_delete_users() {
    let (app, root) = admin_app().await;
    use reqwest::Method;
    let created = app
        .api(
            Method::POST,
            "/hub/api/users",
            &root,
            Some(json!({ "usernames": ["Ann", "ben", "ann"], "admin": false })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let names: Vec<&str> = created.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "ben"]);

    let bad =
        app.api(Method::POST, "/hub/api/users", &root, Some(json!({ "usernames": ["ok", "not ok"] }))).await;
    assert_eq!(bad.status(), 400);
    assert!(
        app.api(Method::GET, "/hub/api/users/ok", &root, None).await.status() == 404,
        "nothing created on a bad batch"
    );
    assert_eq!(
        app.api(Method::POST, "/hub/api/users", &root, Some(json!({ "usernames": ["ann"] }))).await.status(),
        409
    );

    let one = app.api(Method::POST, "/hub/api/users/cara", &root, Some(json!({ "admin": true }))).await;
    assert_eq!(one.status(), 201);
    assert_eq!(one.json::<Value>().await.unwrap()["admin"], true);
    assert_eq!(app.api(Method::POST, "/hub/api/users/cara", &root, None).await.status(), 409);

    let patched = app
        .api(Method::PATCH, "/hub/api/users/ben", &root, Some(json!({ "name": "benjamin", "admin": true })))
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!((patched["name"].as_str(), patched["admin"].as_bool()), (Some("benjamin"), Some(true)));
    assert_eq!(app.api(Method::GET, "/hub/api/users/ben", &root, None).await.status(), 404);
    let clash =
        app.api(Method::PATCH, "/hub/api/users/benjamin", &root, Some(json!({ "name": "ann" }))).await;
    assert_eq!(clash.status(), 409);
    let unknown_field =
        app.api(Method::PATCH, "/hub/api/users/ann", &root, Some(json!({ "colour": "red" }))).await;
    assert_eq!(unknown_field.status(), 400);

    assert_eq!(app.api(Method::DELETE, "/hub/api/users/ann", &root, None).await.status(), 204);
    assert_eq!(app.api(Method::DELETE, "/hub/api/users/ann", &root, None).await.status(), 404);
}

#[tokio::test]
async fn plain_users_cannot_manage_users() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let token = app.api_token(&session, "alice", json!({})).await;
    let token = token["token"].as_str().unwrap();
    use reqwest::Method;
    assert_eq!(app.api(Method::GET, "/hub/api/users", token, None).await.status(), 403);
    assert_eq!(app.api(Method::POST, "/hub/api/users/eve", token, None).await.status(), 403);
    assert_eq!(
        app.api(Method::PATCH, "/hub/api/users/alice", token, Some(json!({ "admin": true }))).await.status(),
        403
    );
    assert_eq!(app.api(Method::DELETE, "/hub/api/users/alice", token, None).await.status(), 403);
    // Reporting one's own activity is allowed.
    let activity = app
        .api(
            Method::POST,
            "/hub/api/users/alice/activity",
            token,
            Some(json!({ "last_activity": "2026-01-02T03:04:05Z" })),
        )
        .await;
    assert_eq!(activity.status(), 200);
    let me: Value = app.api(Method::GET, "/hub/api/users/alice", token, None).await.json().await.unwrap();
    assert!(me["last_activity"].as_str().unwrap() >= "2026-01-02T03:04:05", "{me}");
    let bad = app
        .api(
            Method::POST,
            "/hub/api/users/alice/activity",
            token,
            Some(json!({ "last_activity": "yesterday" })),
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn listing_a_thousand_users_pages_and_sorts() {
    let (app, root) = admin_app().await;
    let names: Vec<String> = (0..1000).map(|i| format!("user{i:04}")).collect();
    for chunk in names.chunks(250) {
        let created = app
            .api(reqwest::Method::POST, "/hub/api/users", &root, Some(json!({ "usernames": chunk })))
            .await;
        assert_eq!(created.status(), 201);
    }
    // Default without the paging header: the largest page (200), as JupyterHub's; by id.
    let page: Value = app.api_get("/hub/api/users", &root).await.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 200);
    assert_eq!(page[0]["name"], "root");

    let paged = app
        .http
        .get(app.url("/hub/api/users?sort=-name&offset=10&limit=500&name_filter=user0"))
        .header("authorization", format!("token {root}"))
        .header("accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap();
    let paged: Value = paged.json().await.unwrap();
    let items = paged["items"].as_array().unwrap();
    assert_eq!(items.len(), 200, "limit is capped at 200");
    assert_eq!(paged["_pagination"]["total"], 1000);
    assert_eq!(paged["_pagination"]["limit"], 200);
    assert_eq!(paged["_pagination"]["next"]["offset"], 210);
    assert_eq!(items[0]["name"], "user0989");
    assert_eq!(items[1]["name"], "user0988");

    let last: Value = app
        .http
        .get(app.url("/hub/api/users?sort=name&offset=990&limit=50"))
        .header("authorization", format!("token {root}"))
        .header("accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 11);
    assert_eq!(last["_pagination"]["next"], Value::Null);

    for bad in [
        "/hub/api/users?sort=age",
        "/hub/api/users?state=sleepy",
        "/hub/api/users?limit=0",
        "/hub/api/users?offset=-1",
        "/hub/api/users?colour=red",
    ] {
        let response = app.api_get(bad, &root).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let inactive: Value = app.api_get("/hub/api/users?state=active", &root).await.json().await.unwrap();
    assert_eq!(inactive, json!([]));
}

#[tokio::test]
async fn servers_start_and_stop_through_the_api() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    let token = app.api_token(&session, "alice", json!({})).await;
    let token = token["token"].as_str().unwrap();

    let started = app
        .api(
            Method::POST,
            "/hub/api/users/alice/server",
            token,
            Some(json!({ "user_options": { "flavour": "base", "size": "small" } })),
        )
        .await;
    assert_eq!(started.status(), 202);
    assert_eq!(app.final_progress(&session, "").await["ready"], true);
    let me: Value = app.api_get("/hub/api/users/alice", token).await.json().await.unwrap();
    assert_eq!(me["server"], "/user/alice/");
    assert_eq!(me["servers"][""]["ready"], true);
    assert_eq!(me["servers"][""]["user_options"]["size"], "small");
    let again = app.api(Method::POST, "/hub/api/users/alice/server", token, None).await;
    assert_eq!(again.status(), 400);

    assert_eq!(app.api(Method::DELETE, "/hub/api/users/alice/server", token, None).await.status(), 204);
    let me: Value =
        app.api_get("/hub/api/users/alice?include_stopped_servers", token).await.json().await.unwrap();
    assert_eq!(me["server"], Value::Null);
    assert_eq!(me["servers"][""]["stopped"], true);
    let me: Value = app.api_get("/hub/api/users/alice", token).await.json().await.unwrap();
    assert_eq!(me["servers"], json!({}));

    // Bad choices, and a named server removed.
    let bad = app
        .api(Method::POST, "/hub/api/users/alice/servers/gpu", token, Some(json!({ "size": "gpu-2" })))
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("GPU"));
    assert_eq!(app.api(Method::GET, "/hub/api/users/alice/servers/gpu", token, None).await.status(), 404);
}

#[tokio::test]
async fn a_read_only_token_cannot_start_servers() {
    use reqwest::Method;
    let (app, root) = admin_app().await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("root", "root-password").await;
    let limited = app.api_token(&session, "root", json!({ "scopes": ["read:users!user=bob"] })).await;
    let limited = limited["token"].as_str().unwrap();
    assert_eq!(app.api(Method::POST, "/hub/api/users/bob/server", limited, None).await.status(), 403);
    assert_eq!(app.api(Method::DELETE, "/hub/api/users/bob/server", limited, None).await.status(), 403);
    let _ = root;
}

#[tokio::test]
async fn groups_are_created_filled_read_and_deleted() {
    use reqwest::Method;
    let (app, root) = admin_app().await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let created =
        app.api(Method::POST, "/hub/api/groups/staff", &root, Some(json!({ "users": ["alice"] }))).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["users"], json!(["alice"]));
    assert_eq!(app.api(Method::POST, "/hub/api/groups/staff", &root, None).await.status(), 409);
    assert_eq!(app.api(Method::POST, "/hub/api/groups/bad%20name", &root, None).await.status(), 400);
    assert_eq!(
        app.api(Method::POST, "/hub/api/groups/x", &root, Some(json!({ "users": ["ghost"] }))).await.status(),
        400
    );

    let added: Value = app
        .api(Method::POST, "/hub/api/groups/staff/users", &root, Some(json!({ "users": ["bob"] })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(added["users"], json!(["alice", "bob"]));
    let props: Value = app
        .api(Method::PUT, "/hub/api/groups/staff/properties", &root, Some(json!({ "gpu": true })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(props["properties"], json!({ "gpu": true }));
    let alice: Value = app.api_get("/hub/api/users/alice", &root).await.json().await.unwrap();
    assert_eq!(alice["groups"], json!(["staff"]));

    // A token limited to the group sees its members, not others.
    let session = app.session("root", "root-password").await;
    let limited = app
        .api_token(
            &session,
            "root",
            json!({ "scopes": ["read:users!group=staff", "read:groups!group=staff"] }),
        )
        .await;
    let limited = limited["token"].as_str().unwrap();
    assert_eq!(app.api_get("/hub/api/users/bob", limited).await.status(), 200);
    assert_eq!(app.api_get("/hub/api/users/root", limited).await.status(), 404);
    assert_eq!(app.api_get("/hub/api/groups/staff", limited).await.status(), 200);
    // Listing with a group filter (and a user filter beside it) is one query: members plus the
    // named user, paged and counted in the database.
    let lister = app
        .api_token(&session, "root", json!({ "scopes": ["list:users!group=staff", "list:users!user=root"] }))
        .await;
    let lister = lister["token"].as_str().unwrap();
    let page: Value = app
        .http
        .get(app.url("/hub/api/users?sort=name&limit=2"))
        .header("Authorization", format!("token {lister}"))
        .header("Accept", "application/jupyterhub-pagination+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"], "{page}");
    assert_eq!(page["_pagination"]["total"], 3, "alice, bob (staff) and root: {page}");

    let removed: Value = app
        .api(Method::DELETE, "/hub/api/groups/staff/users", &root, Some(json!({ "users": ["alice"] })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(removed["users"], json!(["bob"]));
    let listed: Value = app.api_get("/hub/api/groups", &root).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(app.api(Method::DELETE, "/hub/api/groups/staff", &root, None).await.status(), 204);
    assert_eq!(app.api_get("/hub/api/groups/staff", &root).await.status(), 404);
    // Plain users cannot make groups.
    let alice_session = app.session("alice", "alice-password").await;
    let alice_token = app.api_token(&alice_session, "alice", json!({})).await;
    assert_eq!(
        app.api(Method::POST, "/hub/api/groups/mine", alice_token["token"].as_str().unwrap(), None)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn spawn_limits_answer_429_with_retry_after() {
    use reqwest::Method;
    let app = TestApp::spawn_with(|c| {
        c.servers.active_server_limit = 1;
        c.flavours[0].image = "ganymede/no-such-image:latest".into();
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    // Alice's server occupies the one slot while it is pending.
    let name = hub::domain::UserName::parse("alice").unwrap();
    let alice = hub::users::find(&app.hub, &name).await.unwrap().unwrap();
    let default = hub::domain::ServerName::default_server();
    let mut conn = app.hub.db().acquire().await.unwrap();
    hub::db::servers::ensure(&mut conn, alice.id, &default, 0).await.unwrap();
    let row = hub::db::servers::get(&mut *conn, alice.id, &default).await.unwrap().unwrap();
    let planned = hub::db::servers::StoredWorkload {
        workload: hub::spawner::WorkloadState::new(
            hub::spawner::SpawnerKind::Docker,
            1,
            serde_json::json!({}),
        ),
        token_nonce: String::new(),
    };
    let start = hub::db::servers::PlannedStart {
        flavour: "base",
        size: "small",
        kind: hub::spawner::SpawnerKind::Docker,
        planned: &planned,
        worker: app.hub.instance_id(),
    };
    assert!(hub::db::servers::begin_start(&mut conn, row.id, hub::servers::ServerState::Stopped, start, 0)
        .await
        .unwrap());
    drop(conn);

    let session = app.session("bob", "bob-password").await;
    let token = app.api_token(&session, "bob", json!({})).await;
    let response =
        app.api(Method::POST, "/hub/api/users/bob/server", token["token"].as_str().unwrap(), None).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 429);
    // The dashboard's server function says the same.
    let form = app.server_fn("start_server", &[("flavour", "base"), ("size", "small")], Some(&session)).await;
    assert_eq!(form.status(), 429);
}

#[tokio::test]
async fn named_servers_can_be_created_without_starting_and_bad_queries_get_the_error_shape() {
    use reqwest::Method;
    let (app, root) = admin_app().await;
    let created = app
        .api(
            Method::PUT,
            "/hub/api/users/root/servers/draft",
            &root,
            Some(json!({ "user_options": { "size": "medium" } })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let server: Value = created.json().await.unwrap();
    assert_eq!(server["stopped"], true);
    assert_eq!(server["user_options"], json!({ "flavour": "base", "size": "medium" }));
    assert_eq!(app.api(Method::PUT, "/hub/api/users/root/servers/draft", &root, None).await.status(), 409);
    let bad = app
        .api(Method::PUT, "/hub/api/users/root/servers/x", &root, Some(json!({ "flavour": "cobol" })))
        .await;
    assert_eq!(bad.status(), 400);

    let query = app.api_get("/hub/api/users?colour=red", &root).await;
    assert_eq!(query.status(), 400);
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["status"], 400);
    assert!(body["message"].as_str().unwrap().contains("colour"), "{body}");
}

/// JupyterHub's activity contract, as `jupyterhub-singleuser` and PyPI's idle culler rely on it:
/// the `servers` map moves each named server's time (and its user's), an unknown server or a time
/// more than 59 minutes ahead is 400 and changes nothing, times only move forward.
#[tokio::test]
async fn activity_reports_move_each_named_servers_time_forward_and_refuse_unknown_servers_and_the_future() {
    use reqwest::Method;
    let (app, root) = admin_app().await;
    app.add_user("alice", "alice-password", false).await;
    let created = app.api(Method::PUT, "/hub/api/users/alice/servers/work", &root, None).await;
    assert!(created.status().is_success(), "{}", created.status());
    let post = |body: Value| app.api(Method::POST, "/hub/api/users/alice/activity", &root, Some(body));
    let times = || async {
        let me: Value = app
            .api(Method::GET, "/hub/api/users/alice?include_stopped_servers=1", &root, None)
            .await
            .json()
            .await
            .unwrap();
        (
            me["last_activity"].as_str().map(str::to_owned),
            me["servers"]["work"]["last_activity"].as_str().map(str::to_owned),
        )
    };
    let ago = |minutes: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    // The named server's time moves, and with it its user's.
    let ten = ago(10);
    assert_eq!(post(json!({ "servers": { "work": { "last_activity": ten } } })).await.status(), 200);
    let (user, work) = times().await;
    assert_eq!(work.as_deref().map(|t| &t[..19]), Some(&ten[..19]), "{work:?}");
    assert!(user.as_deref() >= Some(&ten[..19]), "{user:?}");

    // Backwards is ignored (200, nothing moves).
    assert_eq!(post(json!({ "servers": { "work": { "last_activity": ago(30) } } })).await.status(), 200);
    assert_eq!(times().await.1, work);

    // An unknown server, a time an hour ahead, an empty body, a server without a time: 400, and
    // nothing of the report is kept (the good server beside the bad one does not move either).
    let now = ago(0);
    for bad in [
        json!({ "servers": { "work": { "last_activity": now }, "nope": { "last_activity": now } } }),
        json!({ "servers": { "work": { "last_activity": ago(-61) } } }),
        json!({ "last_activity": ago(-61) }),
        json!({}),
        json!({ "servers": { "work": {} } }),
        json!({ "servers": { "work": { "last_activity": "soon" } } }),
    ] {
        let r = post(bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
        let said: Value = r.json().await.unwrap();
        assert!(said["message"].as_str().is_some_and(|m| !m.is_empty()), "{said}");
    }
    assert_eq!(times().await.1, work, "a refused report moved the server");

    // A time a little ahead (clock skew) is accepted; a naive time is UTC.
    assert_eq!(post(json!({ "servers": { "work": { "last_activity": ago(-5) } } })).await.status(), 200);
    let naive = ago(-6).trim_end_matches('Z').to_owned();
    assert_eq!(post(json!({ "last_activity": naive })).await.status(), 200);
    assert!(times().await.1 > work);
}
