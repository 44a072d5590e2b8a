//! The admin page's server functions (`/hub/fn/admin_*`) and `PATCH` of named servers: what an
//! admin can do to other people's accounts and servers, what a plain user cannot, and the audit
//! log that records who did it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn admin_and_alice() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    app.add_user("alice", "alice-password", false).await;
    let root = app.session("root", "root-password").await;
    let alice = app.session("alice", "alice-password").await;
    (app, root, alice)
}

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn listing(app: &TestApp, session: &str, search: &str, sort: &str, page_size: &str) -> Value {
    let response = app
        .server_fn(
            "admin_users",
            &[
                ("search", search),
                ("sort", sort),
                ("active_only", "false"),
                ("page", "0"),
                ("page_size", page_size),
            ],
            Some(session),
        )
        .await;
    assert_eq!(response.status(), 200);
    json_of(response).await
}

fn names(listing: &Value) -> Vec<String> {
    listing["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn admins_add_rename_promote_reset_and_delete_users_and_the_log_names_them() {
    let (app, root, alice) = admin_and_alice().await;
    let added =
        app.server_fn("admin_add_users", &[("names", "ann, ben\nAnn"), ("admin", "true")], Some(&root)).await;
    assert_eq!(added.status(), 200);
    assert_eq!(json_of(added).await, json!("Added ann, ben."));
    let again =
        app.server_fn("admin_add_users", &[("names", "ann cy"), ("admin", "false")], Some(&root)).await;
    assert_eq!(json_of(again).await, json!("Added cy. Already existed: ann."));
    let invalid =
        app.server_fn("admin_add_users", &[("names", "ok bad/name"), ("admin", "false")], Some(&root)).await;
    assert_eq!(invalid.status(), 400);
    assert!(listing(&app, &root, "ok", "name", "50").await["users"].as_array().unwrap().is_empty());

    let page = listing(&app, &root, "", "name", "50").await;
    assert_eq!(names(&page), ["alice", "ann", "ben", "cy", "root"]);
    assert_eq!(page["total"], 5);
    let ann = &page["users"][1];
    assert_eq!(ann["is_admin"], true);
    let page = listing(&app, &root, "", "-name", "10").await;
    assert_eq!(names(&page), ["root", "cy", "ben", "ann", "alice"]);
    let page = listing(&app, &root, "A", "name", "10").await;
    assert_eq!(names(&page), ["alice", "ann"], "search ignores case");
    let bad = app
        .server_fn(
            "admin_users",
            &[
                ("search", ""),
                ("sort", "colour"),
                ("active_only", "false"),
                ("page", "0"),
                ("page_size", "50"),
            ],
            Some(&root),
        )
        .await;
    assert_eq!(bad.status(), 400);

    let renamed =
        app.server_fn("admin_rename_user", &[("name", "cy"), ("new_name", "cyrus")], Some(&root)).await;
    assert_eq!(renamed.status(), 200);
    let taken =
        app.server_fn("admin_rename_user", &[("name", "cyrus"), ("new_name", "ann")], Some(&root)).await;
    // A conflict, as the REST API says too (one classification, mapped once at each edge).
    assert_eq!(taken.status(), 409);
    let demoted = app.server_fn("admin_set_admin", &[("name", "ben"), ("admin", "false")], Some(&root)).await;
    assert_eq!(demoted.status(), 200);
    let myself = app.server_fn("admin_set_admin", &[("name", "root"), ("admin", "false")], Some(&root)).await;
    assert_eq!(myself.status(), 400, "an admin cannot lock themselves out");

    let weak =
        app.server_fn("admin_reset_password", &[("name", "alice"), ("password", "x")], Some(&root)).await;
    assert_eq!(weak.status(), 400);
    let reset = app
        .server_fn(
            "admin_reset_password",
            &[("name", "alice"), ("password", "a-new-long-password")],
            Some(&root),
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert_eq!(app.server_fn("whoami", &[], Some(&alice)).await.json::<Value>().await.unwrap(), Value::Null);
    assert_eq!(app.login("alice", "a-new-long-password").await.status(), 200);

    let gone = app.server_fn("admin_delete_user", &[("name", "cyrus")], Some(&root)).await;
    assert_eq!(gone.status(), 200);
    let missing = app.server_fn("admin_delete_user", &[("name", "cyrus")], Some(&root)).await;
    assert_eq!(missing.status(), 404);
    let self_delete = app.server_fn("admin_delete_user", &[("name", "root")], Some(&root)).await;
    assert_eq!(self_delete.status(), 400);

    let log =
        json_of(app.server_fn("admin_events", &[("filter", "cy"), ("page", "0")], Some(&root)).await).await;
    let actions: Vec<(&str, &str)> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap_or("hub")))
        .collect();
    assert_eq!(actions, [("user.delete", "root"), ("user.rename", "root"), ("user.create", "root")]);
    let all =
        json_of(app.server_fn("admin_events", &[("filter", ""), ("page", "0")], Some(&root)).await).await;
    assert!(all["total"].as_i64().unwrap() >= 8, "{all}");
}

#[tokio::test]
async fn plain_users_are_refused_every_admin_function() {
    let (app, _root, alice) = admin_and_alice().await;
    let calls: &[(&str, &[(&str, &str)])] = &[
        (
            "admin_users",
            &[("search", ""), ("sort", "name"), ("active_only", "false"), ("page", "0"), ("page_size", "50")],
        ),
        ("admin_add_users", &[("names", "eve"), ("admin", "true")]),
        ("admin_delete_user", &[("name", "root")]),
        ("admin_rename_user", &[("name", "root"), ("new_name", "toor")]),
        ("admin_set_admin", &[("name", "alice"), ("admin", "true")]),
        ("admin_approve_user", &[("name", "alice")]),
        ("admin_reset_password", &[("name", "root"), ("password", "a-new-long-password")]),
        ("admin_server_action", &[("user", "root"), ("server", ""), ("action", "start")]),
        ("admin_stop_all", &[]),
        ("admin_groups", &[]),
        ("admin_create_group", &[("name", "x"), ("members", "")]),
        ("admin_set_group_members", &[("name", "x"), ("members", "alice")]),
        ("admin_delete_group", &[("name", "x")]),
        ("admin_events", &[("filter", ""), ("page", "0")]),
    ];
    for (name, fields) in calls {
        let response = app.server_fn(name, fields, Some(&alice)).await;
        assert_eq!(response.status(), 403, "{name}");
        let signed_out = app.server_fn(name, fields, None).await;
        assert_eq!(signed_out.status(), 401, "{name} signed out");
    }
    let root = hub::domain::UserName::parse("root").unwrap();
    assert!(hub::users::find(&app.hub, &root).await.unwrap().unwrap().is_admin);
}

#[tokio::test]
async fn groups_are_created_edited_and_deleted_from_the_admin_page() {
    let (app, root, _alice) = admin_and_alice().await;
    let created =
        app.server_fn("admin_create_group", &[("name", "physics"), ("members", "alice")], Some(&root)).await;
    assert_eq!(created.status(), 200);
    let dup = app.server_fn("admin_create_group", &[("name", "physics"), ("members", "")], Some(&root)).await;
    assert_eq!(dup.status(), 409);
    let bad = app.server_fn("admin_create_group", &[("name", "a b"), ("members", "")], Some(&root)).await;
    assert_eq!(bad.status(), 400);
    let unknown =
        app.server_fn("admin_create_group", &[("name", "chem"), ("members", "nobody")], Some(&root)).await;
    assert_eq!(unknown.status(), 400);
    assert!(json_of(unknown).await.to_string().contains("nobody"));

    let set = app
        .server_fn("admin_set_group_members", &[("name", "physics"), ("members", "root, alice")], Some(&root))
        .await;
    assert_eq!(set.status(), 200);
    let groups = json_of(app.server_fn("admin_groups", &[], Some(&root)).await).await;
    assert_eq!(
        groups,
        json!({ "groups": [{ "name": "physics", "members": ["alice", "root"] }], "managed_by_provider": false })
    );
    let set = app
        .server_fn("admin_set_group_members", &[("name", "physics"), ("members", "root")], Some(&root))
        .await;
    assert_eq!(set.status(), 200);
    let page = listing(&app, &root, "", "name", "50").await;
    assert_eq!(page["users"][0]["groups"], json!([]), "alice left the group");
    assert_eq!(page["users"][1]["groups"], json!(["physics"]));

    assert_eq!(app.server_fn("admin_delete_group", &[("name", "physics")], Some(&root)).await.status(), 200);
    assert_eq!(app.server_fn("admin_delete_group", &[("name", "physics")], Some(&root)).await.status(), 404);
    let log =
        json_of(app.server_fn("admin_events", &[("filter", "group."), ("page", "0")], Some(&root)).await)
            .await;
    let actions: Vec<&str> =
        log["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["group.delete", "group.set_users", "group.set_users", "group.create"]);
}

#[tokio::test]
async fn an_admin_starts_and_stops_someone_elses_server_and_stop_all_stops_everything() {
    let (app, root, alice) = admin_and_alice().await;
    let start = app
        .server_fn(
            "admin_server_action",
            &[("user", "alice"), ("server", ""), ("action", "start")],
            Some(&root),
        )
        .await;
    assert_eq!(start.status(), 200, "{}", start.text().await.unwrap());
    assert_eq!(app.final_progress(&alice, "").await["ready"], true);
    let page = listing(&app, &root, "alice", "name", "50").await;
    let server = &page["users"][0]["servers"][0];
    assert_eq!(server["status"], "running");
    assert_eq!((server["flavour"].as_str(), server["size"].as_str()), (Some("base"), Some("small")));

    let bogus = app
        .server_fn(
            "admin_server_action",
            &[("user", "alice"), ("server", ""), ("action", "explode")],
            Some(&root),
        )
        .await;
    assert_eq!(bogus.status(), 400);

    let stopped = app.server_fn("admin_stop_all", &[], Some(&root)).await;
    assert_eq!(json_of(stopped).await, json!("Stopped 1 server(s)."));
    let page = listing(&app, &root, "alice", "name", "50").await;
    assert_eq!(page["users"][0]["servers"][0]["status"], "stopped");
    assert!(crate::helpers::containers(&app.prefix).is_empty());

    let log =
        json_of(app.server_fn("admin_events", &[("filter", "server."), ("page", "0")], Some(&root)).await)
            .await;
    let entries: Vec<(&str, &str, &str)> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap_or("(hub)"),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    // One audit row per transition: the ones asked for name the admin, the ones that followed the hub.
    assert_eq!(
        entries,
        [
            ("server.stopped", "(hub)", "alice/"),
            ("server.stop", "root", "alice/"),
            ("server.ready", "(hub)", "alice/"),
            ("server.start", "root", "alice/")
        ]
    );
}

#[tokio::test]
async fn a_stopped_named_server_is_renamed_and_reconfigured_with_patch() {
    let app = TestApp::spawn().await;
    app.add_user("root", "root-password", true).await;
    let session = app.session("root", "root-password").await;
    let token = app.api_token(&session, "root", json!({})).await;
    let token = token["token"].as_str().unwrap();
    let path = "/hub/api/users/root/servers";
    assert_eq!(app.api(Method::PUT, &format!("{path}/draft"), token, None).await.status(), 201);
    assert_eq!(app.api(Method::PUT, &format!("{path}/other"), token, None).await.status(), 201);

    let renamed =
        app.api(Method::PATCH, &format!("{path}/draft"), token, Some(json!({ "name": "final" }))).await;
    assert_eq!(renamed.status(), 200);
    let model = json_of(renamed).await;
    assert_eq!(model["name"], "final");
    assert_eq!(model["url"], "/user/root/final/");
    assert_eq!(app.api(Method::GET, &format!("{path}/draft"), token, None).await.status(), 404);

    let resized = app
        .api(
            Method::PATCH,
            &format!("{path}/final"),
            token,
            Some(json!({ "user_options": { "size": "medium" } })),
        )
        .await;
    assert_eq!(json_of(resized).await["user_options"], json!({ "flavour": "base", "size": "medium" }));

    let cases = [
        (json!({ "name": "other" }), 409),
        (json!({ "name": "Not Valid" }), 400),
        (json!({ "name": "" }), 400),
        (json!({}), 400),
        (json!({ "user_options": { "size": "huge" } }), 400),
        (json!({ "colour": "red" }), 400),
    ];
    for (body, status) in cases {
        let response = app.api(Method::PATCH, &format!("{path}/final"), token, Some(body.clone())).await;
        assert_eq!(response.status(), status, "{body}");
        let error = json_of(response).await;
        assert_eq!(error["status"], status, "{error}");
    }
    let malformed = app
        .http
        .patch(app.url(&format!("{path}/final")))
        .header("authorization", format!("token {token}"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        app.api(Method::PATCH, &format!("{path}/nope"), token, Some(json!({ "name": "x" }))).await.status(),
        404
    );

    // A running server must be stopped first.
    let started = app.api(Method::POST, &format!("{path}/final"), token, None).await;
    assert_eq!(started.status(), 202);
    assert_eq!(app.final_progress(&session, "final").await["ready"], true);
    // JupyterHub clients follow progress with their token.
    let progress = app.api(Method::GET, &format!("{path}/final/progress"), token, None).await;
    assert_eq!(progress.status(), 200);
    assert_eq!(progress.headers()["content-type"], "text/event-stream");
    let body = progress.text().await.unwrap();
    let last: Value =
        serde_json::from_str(body.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap())
            .unwrap();
    assert_eq!((last["ready"].as_bool(), last["url"].as_str()), (Some(true), Some("/user/root/final/")));
    let narrow = app.api_token(&session, "root", json!({ "scopes": ["read:users"] })).await;
    let refused = app
        .api(Method::GET, &format!("{path}/final/progress"), narrow["token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refused.status(), 403, "read:users is not read:servers");
    let busy =
        app.api(Method::PATCH, &format!("{path}/final"), token, Some(json!({ "name": "later" }))).await;
    assert_eq!(busy.status(), 400);
    assert!(json_of(busy).await["message"].as_str().unwrap().contains("stop it"));
    assert_eq!(
        app.api(Method::DELETE, &format!("{path}/final"), token, Some(json!({ "remove": true })))
            .await
            .status(),
        204
    );

    // Another user's token without the scope cannot touch root's servers.
    app.add_user("bob", "bob-password-1", false).await;
    let bob_session = app.session("bob", "bob-password-1").await;
    let bob = app.api_token(&bob_session, "bob", json!({})).await;
    let denied = app
        .api(
            Method::PATCH,
            &format!("{path}/other"),
            bob["token"].as_str().unwrap(),
            Some(json!({ "name": "mine" })),
        )
        .await;
    assert_eq!(denied.status(), 404, "root's servers are hidden from bob");
}

/// One classification, mapped once at each edge: the same failure has the same status whether it
/// comes through the REST API or the admin page.
#[tokio::test]
async fn the_rest_api_and_the_admin_page_answer_the_same_failure_alike() {
    let (app, root, _alice) = admin_and_alice().await;
    let token = app.api_token(&root, "root", json!({ "scopes": ["admin:users"] })).await;
    let token = token["token"].as_str().unwrap().to_owned();
    let rest_add = |names: Value| {
        app.http
            .post(app.url("/hub/api/users"))
            .header("authorization", format!("token {token}"))
            .json(&json!({ "usernames": names }))
            .send()
    };
    // Every name exists already: a conflict.
    let page = app.server_fn("admin_add_users", &[("names", "alice"), ("admin", "false")], Some(&root)).await;
    let rest = rest_add(json!(["alice"])).await.unwrap();
    assert_eq!((page.status().as_u16(), rest.status().as_u16()), (409, 409));
    let (page_text, rest_body) = (page.text().await.unwrap(), rest.json::<Value>().await.unwrap());
    assert!(page_text.contains("Already exist: alice."), "{page_text}");
    assert_eq!(rest_body["message"], "Already exist: alice.");
    // An invalid name: invalid, and nothing is added.
    let page =
        app.server_fn("admin_add_users", &[("names", "zed a/b"), ("admin", "false")], Some(&root)).await;
    let rest = rest_add(json!(["zed", "a/b"])).await.unwrap();
    assert_eq!((page.status().as_u16(), rest.status().as_u16()), (400, 400));
    assert_eq!(app.api_get("/hub/api/users/zed", &token).await.status(), 404);
    // Renaming onto a taken name: a conflict on both.
    let page =
        app.server_fn("admin_rename_user", &[("name", "alice"), ("new_name", "root")], Some(&root)).await;
    let rest = app
        .http
        .patch(app.url("/hub/api/users/alice"))
        .header("authorization", format!("token {token}"))
        .json(&json!({ "name": "root" }))
        .send()
        .await
        .unwrap();
    assert_eq!((page.status().as_u16(), rest.status().as_u16()), (409, 409));
    // An unknown sort order: invalid on both, with the same words.
    let page = app
        .server_fn(
            "admin_users",
            &[("search", ""), ("sort", "age"), ("active_only", "false"), ("page", "0"), ("page_size", "50")],
            Some(&root),
        )
        .await;
    let rest = app.api_get("/hub/api/users?sort=age", &token).await;
    assert_eq!((page.status().as_u16(), rest.status().as_u16()), (400, 400));
    assert!(page.text().await.unwrap().contains("use id, name or last_activity"));
    assert!(rest.text().await.unwrap().contains("use id, name or last_activity"));
}
