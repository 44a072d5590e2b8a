//! JupyterHub's own single-user servers (`jupyterhub-singleuser` from PyPI's `jupyterhub` 5 and 6,
//! a docker-stacks-like image and the project's own base, all built by the test set-up, and the
//! local spawner's environment) under Ganymede, with the real engine: it starts
//! with the contract's environment, reaches the hub's API from its container, and a browser (a
//! client keeping cookies as one does) gets into the lab through the OAuth flow.

use std::collections::BTreeMap;

use hub::config::{FlavourConfig, FlavourKind};

use crate::helpers::{containers, inspect, TestApp, COOKIE};

fn flavour(id: &str, image: &str, cmd: Option<&str>, user: &str) -> FlavourConfig {
    FlavourConfig {
        id: id.into(),
        display_name: id.into(),
        description: String::new(),
        image: image.into(),
        environment: None,
        icon: "book".into(),
        tags: vec![],
        sizes: vec![],
        kind: FlavourKind::JupyterhubSingleuser,
        cmd: cmd.map(|c| vec![c.to_owned()]),
        args: vec![],
        env: BTreeMap::from([("GANYMEDE_FLAVOUR".to_owned(), id.to_owned())]),
        user: Some(user.into()),
    }
}

/// JupyterHub 5's and 6's single-user servers, and an image laid out like docker-stacks'.
fn singleuser_flavours(c: &mut hub::config::Config) {
    c.hub.servers_api_port = 0;
    c.flavours.push(flavour("hub5", "ganymede/singleuser:latest", None, "1000:1000"));
    c.flavours.push(flavour("hub6", "ganymede/singleuser6:latest", None, "1000:1000"));
    // The project's own base image runs either kind.
    c.flavours.push(flavour("base-hub", "ganymede/base:latest", None, "1000:1000"));
    c.flavours.push(flavour(
        "stacks",
        "ganymede/docker-stacks:latest",
        Some("start-notebook.py"),
        "1000:100",
    ));
}

/// A browser's cookies: what `Set-Cookie` said, sent back on every request.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some((name, value)) = v.split(';').next().and_then(|p| p.split_once('=')) {
                if value.is_empty() || v.contains("Max-Age=0") || v.contains("expires=Thu, 01 Jan 1970") {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// GET with the jar, following redirects by hand (keeping cookies); the final answer and the
/// paths it went through.
async fn browse(app: &TestApp, jar: &mut Jar, path: &str) -> (reqwest::Response, Vec<String>) {
    let mut at = path.to_owned();
    let mut seen = vec![at.clone()];
    for _ in 0..10 {
        let r = app.http.get(app.url(&at)).header("cookie", jar.header()).send().await.unwrap();
        jar.take(&r);
        if !r.status().is_redirection() {
            return (r, seen);
        }
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        at = to.strip_prefix(&app.base).unwrap_or(&to).to_owned();
        assert!(at.starts_with('/'), "a redirect off the hub: {at}");
        seen.push(at.clone());
    }
    panic!("too many redirects: {seen:?}");
}

/// Starts `user`'s server of `flavour` and goes into its lab as their browser would; returns
/// the browser's cookies.
async fn owner_gets_in(app: &TestApp, user: &str, flavour: &str, cmd: &str, run_as: &str, pkce: bool) -> Jar {
    app.add_user(user, "user-password-1", false).await;
    let session = app.session(user, "user-password-1").await;
    let done = app.start_and_wait(&session, flavour, "small", "").await;
    assert_eq!(done["ready"], true, "{flavour}: {done}");

    // The contract's environment; no token for the proxy to add.
    let id = containers(&app.prefix)
        .into_iter()
        .find(|id| inspect(id)["Config"]["Labels"]["org.ganymede.user"] == user)
        .expect("the server's container");
    let c = inspect(&id);
    let env: BTreeMap<String, String> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str()?.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let prefix = format!("/user/{user}/");
    assert_eq!(env["JUPYTERHUB_CLIENT_ID"], format!("jupyterhub-user-{user}"));
    assert_eq!(env["JUPYTERHUB_SERVICE_PREFIX"], prefix);
    assert_eq!(env["JUPYTERHUB_OAUTH_CALLBACK_URL"], format!("{prefix}oauth_callback"));
    assert_eq!(env["JUPYTERHUB_SERVICE_URL"], format!("http://0.0.0.0:8888{prefix}"));
    assert_eq!(
        env["JUPYTERHUB_OAUTH_ACCESS_SCOPES"],
        format!(r#"["access:servers!server={user}/","access:servers!user={user}"]"#)
    );
    assert_eq!(env["JUPYTERHUB_USER"], user);
    assert_eq!(env["GANYMEDE_FLAVOUR"], flavour);
    assert_eq!(env["NVIDIA_VISIBLE_DEVICES"], "void");
    let api = &env["JUPYTERHUB_API_URL"];
    assert!(api.starts_with("http://") && api.ends_with("/hub/api") && !api.contains("127.0.0.1"), "{env:?}");
    assert!(!env.contains_key("JUPYTER_TOKEN"), "no token the proxy would add: {env:?}");
    assert_eq!(c["Config"]["User"], run_as);
    assert_eq!(c["Config"]["Cmd"], serde_json::json!([cmd]));

    // The browser: the server sends it to the hub's authorize endpoint, the hub back with a
    // code, the server exchanges it (from its container, on the servers' API listener) and sets
    // its own cookie; the lab opens.
    let mut jar = Jar::default();
    jar.0.insert(COOKIE.to_owned(), session);
    let (lab, path) = browse(app, &mut jar, &format!("{prefix}lab")).await;
    assert_eq!(lab.status(), 200, "{flavour}: {path:?}");
    let authorize =
        path.iter().find(|p| p.starts_with("/hub/api/oauth2/authorize?")).expect("the authorize step");
    assert_eq!(authorize.contains("code_challenge_method=S256"), pkce, "{authorize}");
    assert!(path.iter().any(|p| p.starts_with(&format!("{prefix}oauth_callback?code="))), "{path:?}");
    assert!(
        jar.0.contains_key(&format!("jupyterhub-user-{user}")),
        "the server's own cookie: {:?}",
        jar.0.keys()
    );
    assert!(lab.text().await.unwrap().contains("JupyterLab"), "the lab's page");
    // The server's API with that cookie alone (the hub's session cookie never reaches it).
    let (contents, _) = browse(app, &mut jar, &format!("{prefix}api/contents")).await;
    assert_eq!(contents.status(), 200);
    jar
}

/// The local spawner runs `jupyterhub-singleuser` from an environment (`.tools/jupyter-venv`, with
/// PyPI's `jupyterhub` 5): it listens where JUPYTERHUB_SERVICE_URL says, calls the hub's API on
/// the servers' listener, and its owner gets in through the OAuth flow; someone else does not.
#[tokio::test]
async fn the_local_spawner_runs_jupyterhub_singleuser_and_its_owner_gets_in_through_oauth() {
    let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/jupyter-venv");
    assert!(
        venv.join("bin/jupyterhub-singleuser").is_file(),
        "{} has no jupyterhub-singleuser: run `scripts/setup.sh test`",
        venv.display()
    );
    let venv = std::path::absolute(&venv).unwrap().display().to_string();
    let app = TestApp::spawn_with(|c| {
        c.spawner.kind = hub::config::SpawnerChoice::Local;
        c.hub.servers_api_port = 0;
        c.flavours.retain(|f| f.id == "base");
        c.flavours[0].environment = Some(venv.clone());
        c.flavours[0].kind = FlavourKind::JupyterhubSingleuser;
    })
    .await;
    app.add_user("eve", "user-password-1", false).await;
    let session = app.session("eve", "user-password-1").await;
    let done = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(done["ready"], true, "{done}");
    let mut jar = Jar::default();
    jar.0.insert(COOKIE.to_owned(), session);
    let (lab, path) = browse(&app, &mut jar, "/user/eve/lab").await;
    assert_eq!(lab.status(), 200, "{path:?}");
    assert!(path.iter().any(|p| p.starts_with("/hub/api/oauth2/authorize?")), "{path:?}");
    assert!(path.iter().any(|p| p.starts_with("/user/eve/oauth_callback?code=")), "{path:?}");
    assert!(jar.0.contains_key("jupyterhub-user-eve"), "{:?}", jar.0.keys());
    assert!(lab.text().await.unwrap().contains("JupyterLab"));
    let (contents, _) = browse(&app, &mut jar, "/user/eve/api/contents").await;
    assert_eq!(contents.status(), 200);
    // With the hub's session cookie alone, someone else is refused by the proxy.
    app.add_user("bob", "bob-password-1", false).await;
    let mut bobs = Jar::default();
    bobs.0.insert(COOKIE.to_owned(), app.session("bob", "bob-password-1").await);
    let (refused, _) = browse(&app, &mut bobs, "/user/eve/lab").await;
    assert_eq!(refused.status(), 403);
    let stop = app.server_fn("stop_server", &[("name", "")], Some(&jar.0[COOKIE])).await;
    assert_eq!(stop.status(), 200);
}

#[tokio::test]
async fn jupyterhub_5_6_and_docker_stacks_images_start_with_the_contract_and_their_owners_get_in_through_oauth(
) {
    let app = TestApp::spawn_with(singleuser_flavours).await;
    owner_gets_in(&app, "ann", "hub5", "jupyterhub-singleuser", "1000:1000", false).await;
    // JupyterHub 6 sends a PKCE challenge with its authorization request.
    owner_gets_in(&app, "ben", "hub6", "jupyterhub-singleuser", "1000:1000", true).await;
    owner_gets_in(&app, "cat", "stacks", "start-notebook.py", "1000:100", false).await;
    owner_gets_in(&app, "dan", "base-hub", "jupyterhub-singleuser", "1000:1000", false).await;

    // Someone else is refused.
    app.add_user("bob", "bob-password-1", false).await;
    let mut bobs = Jar::default();
    bobs.0.insert(COOKIE.to_owned(), app.session("bob", "bob-password-1").await);
    let (refused, _) = browse(&app, &mut bobs, "/user/ann/lab").await;
    assert_eq!(refused.status(), 403);
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    session: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .header("cookie", format!("{COOKIE}={session}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Follows a form's POST like a browser, then its redirects.
async fn submit(
    app: &TestApp,
    jar: &mut Jar,
    action: &str,
    fields: &[(&str, &str)],
) -> (reqwest::Response, Vec<String>) {
    let r = app.http.post(app.url(action)).header("cookie", jar.header()).form(fields).send().await.unwrap();
    jar.take(&r);
    assert!(r.status().is_redirection(), "{action}: {}", r.status());
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    browse(app, jar, &to).await
}

#[tokio::test]
async fn a_shared_server_opens_for_its_recipient_after_consent_and_a_revoked_share_stops_at_once() {
    let app = TestApp::spawn_with(singleuser_flavours).await;
    let alice = owner_gets_in(&app, "alice", "hub5", "jupyterhub-singleuser", "1000:1000", false).await;
    let alice_session = alice.0[COOKIE].clone();
    app.add_user("bob", "bob-password-1", false).await;
    let mut bob = Jar::default();
    bob.0.insert(COOKIE.to_owned(), app.session("bob", "bob-password-1").await);
    let (refused, _) = browse(&app, &mut bob, "/user/alice/lab").await;
    assert_eq!(refused.status(), 403, "not shared yet");

    // Alice shares with Bob (JupyterHub 5's API).
    let shared = api(
        &app,
        reqwest::Method::POST,
        "/hub/api/shares/alice/",
        &alice_session,
        serde_json::json!({ "user": "bob" }),
    )
    .await;
    assert_eq!(shared.status(), 200);
    let model: serde_json::Value = shared.json().await.unwrap();
    assert_eq!(model["user"]["name"], "bob", "{model}");
    assert_eq!(model["scopes"], serde_json::json!(["access:servers!server=alice/"]));
    let mine = api(
        &app,
        reqwest::Method::GET,
        "/hub/api/users/bob/shared",
        &bob.0[COOKIE].clone(),
        serde_json::Value::Null,
    )
    .await;
    let mine: serde_json::Value = mine.json().await.unwrap();
    assert_eq!(mine["items"][0]["server"]["user"]["name"], "alice", "{mine}");
    // Bob may not share Alice's server on (his `shares` scope is for his own servers: 404, as the
    // API answers when a filter hides the resource).
    let on = api(
        &app,
        reqwest::Method::POST,
        "/hub/api/shares/alice/",
        &bob.0[COOKIE].clone(),
        serde_json::json!({ "user": "bob" }),
    )
    .await;
    assert_eq!(on.status(), 404);

    // Bob opens it: the consent page, then the lab as himself.
    let (consent, path) = browse(&app, &mut bob, "/user/alice/lab").await;
    assert_eq!(consent.status(), 200);
    let page = consent.text().await.unwrap();
    assert!(page.contains("alice&#39;s server") || page.contains("alice's server"), "{page}");
    let action = path.last().unwrap().clone();
    assert!(action.starts_with("/hub/api/oauth2/authorize?"), "{path:?}");
    let (lab, _) = submit(&app, &mut bob, &action, &[]).await;
    assert_eq!(lab.status(), 200);
    assert!(bob.0.contains_key("jupyterhub-user-alice"));
    let (contents, _) = browse(&app, &mut bob, "/user/alice/api/contents").await;
    assert_eq!(contents.status(), 200);

    // Alice revokes: Bob is refused on his next request.
    let revoked =
        api(&app, reqwest::Method::DELETE, "/hub/api/shares/alice/", &alice_session, serde_json::Value::Null)
            .await;
    assert_eq!(revoked.status(), 204);
    let (gone, _) = browse(&app, &mut bob, "/user/alice/api/contents").await;
    assert_eq!(gone.status(), 403);

    // A share link: accepted by Carol, it shares the server with her; it does not work for its
    // owner, nor once expired.
    let code = api(
        &app,
        reqwest::Method::POST,
        "/hub/api/share-codes/alice/",
        &alice_session,
        serde_json::json!({ "expires_in": 3600 }),
    )
    .await;
    assert_eq!(code.status(), 200);
    let code: serde_json::Value = code.json().await.unwrap();
    let accept = code["accept_url"].as_str().unwrap().to_owned();
    let code_value = code["code"].as_str().unwrap().to_owned();
    assert!(code["id"].as_str().unwrap().starts_with("sc_"));
    let bad = api(
        &app,
        reqwest::Method::POST,
        "/hub/api/share-codes/alice/",
        &alice_session,
        serde_json::json!({ "expires_in": 5 }),
    )
    .await;
    assert_eq!(bad.status(), 400);
    app.add_user("carol", "carol-password-1", false).await;
    let mut carol = Jar::default();
    carol.0.insert(COOKIE.to_owned(), app.session("carol", "carol-password-1").await);
    let (offer, _) = browse(&app, &mut carol, &accept).await;
    assert_eq!(offer.status(), 200);
    let (consent, _) = submit(&app, &mut carol, "/hub/accept-share", &[("code", &code_value)]).await;
    assert_eq!(consent.status(), 200, "to the server, then its consent page");
    let mut own = Jar::default();
    own.0.insert(COOKIE.to_owned(), alice_session.clone());
    let (own_code, _) = browse(&app, &mut own, &accept).await;
    assert_eq!(own_code.status(), 403);
    sqlx::query("UPDATE share_codes SET expires_at = 0").execute(app.hub.db()).await.unwrap();
    let (expired, _) = browse(&app, &mut carol, &accept).await;
    assert_eq!(expired.status(), 404);
}
