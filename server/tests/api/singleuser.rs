//! JupyterHub's own single-user server (`jupyterhub-singleuser` from PyPI's `jupyterhub` 5, in
//! the project's `ganymede/singleuser` image) under Ganymede, with the real engine: it starts
//! with the contract's environment, reaches the hub's API from its container, and a browser (a
//! client keeping cookies as one does) gets into the lab through the OAuth flow.

use std::collections::BTreeMap;

use hub::config::{FlavourConfig, FlavourKind};

use crate::helpers::{containers, inspect, TestApp, COOKIE};

fn singleuser_flavour(c: &mut hub::config::Config) {
    c.hub.servers_api_port = 0;
    c.flavours.push(FlavourConfig {
        id: "hub5".into(),
        display_name: "JupyterHub 5 single-user".into(),
        description: String::new(),
        image: "ganymede/singleuser:latest".into(),
        environment: None,
        icon: "book".into(),
        tags: vec![],
        sizes: vec![],
        kind: FlavourKind::JupyterhubSingleuser,
        cmd: None,
        args: vec![],
        env: BTreeMap::from([("GANYMEDE_FLAVOUR".to_owned(), "hub5".to_owned())]),
        user: Some("1000:1000".into()),
    });
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

#[tokio::test]
async fn a_jupyterhub_singleuser_server_starts_with_the_contract_and_its_owner_gets_in_through_oauth() {
    let app = TestApp::spawn_with(singleuser_flavour).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password-1", false).await;
    let alice = app.session("alice", "alice-password").await;
    let done = app.start_and_wait(&alice, "hub5", "small", "").await;
    assert_eq!(done["ready"], true, "{done}");

    // The contract's environment; no token for the proxy to add.
    let id = containers(&app.prefix).pop().expect("a container");
    let c = inspect(&id);
    let env: BTreeMap<String, String> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str()?.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    assert_eq!(env["JUPYTERHUB_CLIENT_ID"], "jupyterhub-user-alice");
    assert_eq!(env["JUPYTERHUB_SERVICE_PREFIX"], "/user/alice/");
    assert_eq!(env["JUPYTERHUB_OAUTH_CALLBACK_URL"], "/user/alice/oauth_callback");
    assert_eq!(env["JUPYTERHUB_SERVICE_URL"], "http://0.0.0.0:8888/user/alice/");
    assert_eq!(
        env["JUPYTERHUB_OAUTH_ACCESS_SCOPES"],
        r#"["access:servers!server=alice/","access:servers!user=alice"]"#
    );
    assert_eq!(env["JUPYTERHUB_USER"], "alice");
    assert_eq!(env["GANYMEDE_FLAVOUR"], "hub5");
    assert_eq!(env["NVIDIA_VISIBLE_DEVICES"], "void");
    assert!(
        env["JUPYTERHUB_API_URL"].starts_with("http://") && !env["JUPYTERHUB_API_URL"].contains("127.0.0.1"),
        "{env:?}"
    );
    assert!(!env.contains_key("JUPYTER_TOKEN"), "no token the proxy would add: {env:?}");
    assert_eq!(c["Config"]["User"], "1000:1000");
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["jupyterhub-singleuser"]));

    // Alice's browser: the server sends it to the hub's authorize endpoint, the hub back with a
    // code, the server exchanges it (from its container, on the servers' API listener) and sets
    // its own cookie; the lab opens.
    let mut jar = Jar::default();
    jar.0.insert(COOKIE.to_owned(), alice.clone());
    let (lab, path) = browse(&app, &mut jar, "/user/alice/lab").await;
    assert_eq!(lab.status(), 200, "{path:?}");
    assert!(path.iter().any(|p| p.starts_with("/hub/api/oauth2/authorize?")), "{path:?}");
    assert!(path.iter().any(|p| p.starts_with("/user/alice/oauth_callback?code=")), "{path:?}");
    assert!(jar.0.contains_key("jupyterhub-user-alice"), "the server's own cookie: {:?}", jar.0.keys());
    let page = lab.text().await.unwrap();
    assert!(page.contains("JupyterLab"), "the lab's page");
    // The server's API with that cookie alone (the hub's session cookie never reaches it).
    let (contents, _) = browse(&app, &mut jar, "/user/alice/api/contents").await;
    assert_eq!(contents.status(), 200);

    // Bob is refused.
    let bob = app.session("bob", "bob-password-1").await;
    let mut bobs = Jar::default();
    bobs.0.insert(COOKIE.to_owned(), bob);
    let (refused, _) = browse(&app, &mut bobs, "/user/alice/lab").await;
    assert_eq!(refused.status(), 403);
}
