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
        allow_documented_nulls(&mut spec);
        spec
    })
}

/// The spec types some fields as plain strings while their descriptions say they are null when
/// unset (e.g. `User.server`: "null if not"), and JupyterHub sends null there; clients rely on the
/// key being present. Such fields accept null here; nothing else is loosened.
fn allow_documented_nulls(spec: &mut Value) {
    let Some(schemas) = spec.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
        for prop in props.values_mut() {
            let documented = prop
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains("null") || d.contains("None"));
            if documented {
                if let Some(t) = prop.get("type").and_then(Value::as_str).map(str::to_owned) {
                    prop["type"] = json!([t, "null"]);
                }
            }
        }
    }
}

/// Validates `instance` against `#/components/schemas/{name}`, failing with every error listed.
fn assert_schema(name: &str, instance: &Value) {
    let mut root = spec().clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$ref"] = json!(format!("#/components/schemas/{name}"));
    let validator = jsonschema::validator_for(&root).expect("schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} does not match the spec:\n{}\n{instance:#}", errors.join("\n"));
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
    assert_schema("Token", &created);

    let user: Value = app.api_get("/hub/api/users/alice", &token).await.json().await.unwrap();
    assert_schema("User", &user);
    let users: Value = app.api_get("/hub/api/users", &token).await.json().await.unwrap();
    for u in users.as_array().unwrap() {
        assert_schema("User", u);
    }
    let listed: Value = app.api_get("/hub/api/users/root/tokens", &token).await.json().await.unwrap();
    for t in listed["api_tokens"].as_array().unwrap() {
        assert_schema("Token", t);
    }

    let group: Value = app
        .api(Method::POST, "/hub/api/groups/staff", &token, Some(json!({ "users": ["alice"] })))
        .await
        .json()
        .await
        .unwrap();
    assert_schema("Group", &group);

    // A server that failed to start is stopped; its model is still a Server.
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
    assert_schema("Server", &server);
    let with_stopped: Value =
        app.api_get("/hub/api/users/alice?include_stopped_servers", &token).await.json().await.unwrap();
    assert_schema("User", &with_stopped);
    let patched: Value = app
        .api(Method::PATCH, "/hub/api/users/alice/servers/one", &token, Some(json!({ "name": "two" })))
        .await
        .json()
        .await
        .unwrap();
    assert_schema("Server", &patched);
    let created: Value =
        app.api(Method::PUT, "/hub/api/users/alice/servers/three", &token, None).await.json().await.unwrap();
    assert_schema("Server", &created);
    let _ = app
        .api(Method::DELETE, "/hub/api/users/alice/servers/two", &token, Some(json!({ "remove": true })))
        .await;

    // Who am I: a User with the request's scopes (RequestIdentity).
    let me: Value = app.api_get("/hub/api/user", &token).await.json().await.unwrap();
    assert_schema("RequestIdentity", &me);
}
