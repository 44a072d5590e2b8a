//! JupyterHub's own single-user servers (`jupyterhub-singleuser` from PyPI's `jupyterhub` 5 and 6,
//! and a docker-stacks-like image, all built by the test set-up) under Ganymede, with the real engine: it starts
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

#[tokio::test]
async fn jupyterhub_5_6_and_docker_stacks_images_start_with_the_contract_and_their_owners_get_in_through_oauth(
) {
    let app = TestApp::spawn_with(singleuser_flavours).await;
    owner_gets_in(&app, "ann", "hub5", "jupyterhub-singleuser", "1000:1000", false).await;
    // JupyterHub 6 sends a PKCE challenge with its authorization request.
    owner_gets_in(&app, "ben", "hub6", "jupyterhub-singleuser", "1000:1000", true).await;
    owner_gets_in(&app, "cat", "stacks", "start-notebook.py", "1000:100", false).await;

    // Someone else is refused.
    app.add_user("bob", "bob-password-1", false).await;
    let mut bobs = Jar::default();
    bobs.0.insert(COOKIE.to_owned(), app.session("bob", "bob-password-1").await);
    let (refused, _) = browse(&app, &mut bobs, "/user/ann/lab").await;
    assert_eq!(refused.status(), 403);
}
