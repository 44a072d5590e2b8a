//! Response bodies validated against the JSON schemas in JupyterHub's REST API spec
//! (`docs/reference/jupyterhub-rest-api.yml`).

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference/jupyterhub-rest-api.yml");
        let text = std::fs::read_to_string(path).expect("the spec is in docs/reference");
        let mut spec: Value = serde_yaml::from_str(&text).expect("the spec parses");
        allow_jupyterhub_nulls(&mut spec);
        spec
    })
}

/// Fields the spec types as plain strings or objects that JupyterHub itself serialises as `null`
/// when unset (`jupyterhub/apihandlers/base.py`: `user_model`, `server_model`, `token_model`), and
/// that its clients read by key (the idle culler's `user["last_activity"]`). Ganymede sends them
/// the same way; exactly these accept null here, nothing else is loosened.
const JUPYTERHUB_NULLS: &[(&str, &str)] = &[
    ("User", "server"),
    ("User", "pending"),
    ("User", "last_activity"),
    ("User", "auth_state"),
    ("Server", "pending"),
    ("Server", "started"),
    ("Server", "last_activity"),
    ("Server", "state"),
    ("Token", "expires_at"),
    ("Token", "last_activity"),
];

/// Properties of the spec's models that Ganymede does not send (added in JupyterHub 6.0 and
/// optional there); every other property must be present, null or not.
const NOT_SENT: &[(&str, &str)] = &[
    ("User", "user_info"),
    ("Server", "display_name"),
    // "undefined if owned by a user": Ganymede has no services.
    ("Token", "service"),
];

fn allow_jupyterhub_nulls(spec: &mut Value) {
    for (schema, field) in JUPYTERHUB_NULLS {
        let prop = spec
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
            .unwrap_or_else(|| panic!("the spec has {schema}.{field}"));
        let t = prop["type"].as_str().unwrap_or_else(|| panic!("{schema}.{field} has one type")).to_owned();
        prop["type"] = json!([t, "null"]);
        if let Some(values) = prop.get_mut("enum").and_then(Value::as_array_mut) {
            values.push(Value::Null);
        }
    }
}

/// Every property of `#/components/schemas/{name}` that Ganymede implements is present.
fn assert_complete(name: &str, instance: &Value) {
    let props = spec()
        .pointer(&format!("/components/schemas/{name}/properties"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("the spec has {name}"));
    let object = instance.as_object().unwrap_or_else(|| panic!("{name} is an object: {instance}"));
    let missing: Vec<&String> = props
        .keys()
        .filter(|k| !NOT_SENT.contains(&(name, k.as_str())))
        .filter(|k| !object.contains_key(k.as_str()))
        .collect();
    assert!(missing.is_empty(), "{name} leaves out {missing:?} (send null instead):\n{instance:#}");
}

/// The model is valid and complete.
fn assert_model(name: &str, instance: &Value) {
    assert_schema(name, instance);
    assert_complete(name, instance);
}

/// Validates `instance` against `#/components/schemas/{name}`, failing with every error listed.
fn assert_schema(name: &str, instance: &Value) {
    let errors = schema_errors(&format!("#/components/schemas/{name}"), instance);
    assert!(errors.is_empty(), "{name} does not match the spec:\n{}\n{instance:#}", errors.join("\n"));
}

/// The errors of `instance` against the schema at `pointer` (a JSON pointer into the spec).
fn schema_errors(pointer: &str, instance: &Value) -> Vec<String> {
    let mut root = spec().clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$ref"] = json!(pointer);
    let validator = jsonschema::validator_for(&root).expect("schema compiles");
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// `/hub/api/user`'s answer is a `RequestIdentity` through its User branch only: `oneOf` holds
/// exactly one branch, and the Service branch refuses it.
fn assert_user_identity(me: &Value) {
    assert_schema("RequestIdentity", me);
    assert_model("User", me);
    assert!(!schema_errors("#/components/schemas/Service", me).is_empty(), "a user is not a Service: {me:#}");
    assert_eq!(me["kind"], "user");
    for key in ["scopes", "session_id", "token_id"] {
        assert!(me.as_object().unwrap().contains_key(key), "RequestIdentity carries {key}: {me:#}");
    }
}

#[tokio::test]
async fn user_server_token_and_group_models_match_the_spec() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("root", "root-password").await;
    let created = app.api_token(&session, "root", json!({ "note": "schema", "expires_in": 600 })).await;
    let token = created["token"].as_str().unwrap().to_owned();
    assert_model("Token", &created);

    let user: Value = app.api_get("/hub/api/users/alice", &token).await.json().await.unwrap();
    assert_model("User", &user);
    let users: Value = app.api_get("/hub/api/users", &token).await.json().await.unwrap();
    for u in users.as_array().unwrap() {
        assert_model("User", u);
    }
    let listed: Value = app.api_get("/hub/api/users/root/tokens", &token).await.json().await.unwrap();
    for t in listed["api_tokens"].as_array().unwrap() {
        assert_model("Token", t);
    }

    let group: Value = app
        .api(Method::POST, "/hub/api/groups/staff", &token, Some(json!({ "users": ["alice"] })))
        .await
        .json()
        .await
        .unwrap();
    assert_model("Group", &group);

    // A named server, started (it runs when the image is there), then stopped: both are Servers.
    let started = app
        .api(
            Method::POST,
            "/hub/api/users/alice/servers/one",
            &token,
            Some(json!({ "flavour": "base", "size": "small" })),
        )
        .await;
    assert_eq!(started.status(), 202);
    let alice = app.session("alice", "alice-password").await;
    app.final_progress(&alice, "one").await;
    let server: Value = app.api_get("/hub/api/users/alice/servers/one", &token).await.json().await.unwrap();
    assert_model("Server", &server);
    let stopped = app.api(Method::DELETE, "/hub/api/users/alice/servers/one", &token, None).await;
    assert!(stopped.status().is_success(), "{}", stopped.status());
    let with_stopped: Value =
        app.api_get("/hub/api/users/alice?include_stopped_servers", &token).await.json().await.unwrap();
    assert_model("User", &with_stopped);
    assert_model("Server", &with_stopped["servers"]["one"]);
    let patched = app
        .api(Method::PATCH, "/hub/api/users/alice/servers/one", &token, Some(json!({ "name": "two" })))
        .await;
    assert_eq!(patched.status(), 200, "a stopped named server can be renamed");
    let patched: Value = patched.json().await.unwrap();
    assert_model("Server", &patched);
    let created: Value =
        app.api(Method::PUT, "/hub/api/users/alice/servers/three", &token, None).await.json().await.unwrap();
    assert_model("Server", &created);
    let _ = app
        .api(Method::DELETE, "/hub/api/users/alice/servers/two", &token, Some(json!({ "remove": true })))
        .await;

    // Who am I: a User with the request's scopes (RequestIdentity).
    let me: Value = app.api_get("/hub/api/user", &token).await.json().await.unwrap();
    assert_user_identity(&me);
}

#[tokio::test]
async fn info_matches_the_spec_with_strings_for_python_and_sys_executable() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    let session = app.session("root", "root-password").await;
    let info: Value = app.get("/hub/api/info", Some(&session)).await.json().await.unwrap();
    let errors = schema_errors("#/paths/~1info/get/responses/200/content/application~1json/schema", &info);
    assert!(errors.is_empty(), "/info does not match the spec:\n{}\n{info:#}", errors.join("\n"));
    for key in ["version", "python", "sys_executable"] {
        let value = info[key].as_str().unwrap_or_else(|| panic!("{key} is a string: {info:#}"));
        assert!(!value.is_empty(), "{key}");
    }
    assert_eq!(info["version"], spec()["info"]["version"]);
    assert!(info["authenticator"]["class"].is_string());
    assert_eq!(info["spawner"]["class"], "ganymede.DockerSpawner", "the configured spawner");
}

/// `GET /hub/api/users/alice` with the admin token.
async fn alice(app: &TestApp, token: &str) -> Value {
    app.api_get("/hub/api/users/alice", token).await.json().await.unwrap()
}

#[tokio::test]
async fn stopped_pending_and_running_users_match_the_spec() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    let root = app.session("root", "root-password").await;
    let token = app.api_token(&root, "root", json!({})).await["token"].as_str().unwrap().to_owned();
    let session = app.session("alice", "alice-password").await;
    let alice_token = app.api_token(&session, "alice", json!({})).await["token"].as_str().unwrap().to_owned();

    // Stopped: no server, nothing pending.
    let stopped = alice(&app, &token).await;
    assert_model("User", &stopped);
    assert_eq!((&stopped["server"], &stopped["pending"]), (&Value::Null, &Value::Null));
    assert_eq!(stopped["servers"], json!({}));
    assert_user_identity(&app.get("/hub/api/user", Some(&session)).await.json().await.unwrap());
    assert_user_identity(&app.api_get("/hub/api/user", &alice_token).await.json().await.unwrap());

    // Pending: the start was accepted; Jupyter needs seconds before it answers.
    let started = app
        .api(
            Method::POST,
            "/hub/api/users/alice/server",
            &token,
            Some(json!({ "flavour": "base", "size": "small" })),
        )
        .await;
    assert_eq!(started.status(), 202);
    let pending = alice(&app, &token).await;
    assert_model("User", &pending);
    assert_eq!(pending["pending"], "spawn", "{pending:#}");
    assert_eq!(pending["server"], Value::Null, "no URL before it is ready");
    assert_model("Server", &pending["servers"][""]);
    assert_eq!(pending["servers"][""]["ready"], false);
    assert_user_identity(&app.api_get("/hub/api/user", &alice_token).await.json().await.unwrap());

    // Running.
    let last = app.final_progress(&session, "").await;
    assert_eq!(last["ready"], true, "{last}");
    let running = alice(&app, &token).await;
    assert_model("User", &running);
    assert_eq!(running["server"], "/user/alice/");
    assert_eq!(running["pending"], Value::Null);
    let server = &running["servers"][""];
    assert_model("Server", server);
    assert_eq!(server["ready"], true);
    assert!(server["started"].is_string(), "{server:#}");
    let me: Value = app.get("/hub/api/user", Some(&session)).await.json().await.unwrap();
    assert_user_identity(&me);
    assert_eq!(me["server"], "/user/alice/");
    assert_user_identity(&app.api_get("/hub/api/user", &alice_token).await.json().await.unwrap());
    let listed: Value = app.api_get("/hub/api/users?state=ready", &token).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_model("User", &listed[0]);

    let stop = app.api(Method::DELETE, "/hub/api/users/alice/server", &token, None).await;
    assert!(stop.status().is_success(), "{}", stop.status());
    let after = alice(&app, &token).await;
    assert_model("User", &after);
}
