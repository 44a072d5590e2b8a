//! The environment JupyterHub's `jupyterhub-singleuser` expects from its hub (see
//! `shared/reference/jupyterhub-singleuser-contract.md`, §1), the same whatever spawner runs it.

use crate::domain::{ServerName, UserName};
use crate::oauth::ServerClient;
use crate::Hub;

/// The port single-user servers listen on inside their workload.
pub const PORT: u16 = 8888;

/// `JUPYTERHUB_*` for a server of `user` whose own API token is `token`.
pub fn environment(hub: &Hub, user: &UserName, server: &ServerName, token: &str) -> Vec<(String, String)> {
    let client = ServerClient::of(user, server);
    let prefix = super::base_url(user, server);
    let api = match hub.internal_api_url() {
        Some(url) => url.to_owned(),
        None => format!("http://{}/hub/api", hub.config().hub.bind),
    };
    let scopes = serde_json::to_string(&client.access_scopes(user)).unwrap_or_else(|_| "[]".into());
    let mut env = vec![
        ("JUPYTERHUB_SERVICE_URL", format!("http://0.0.0.0:{PORT}{prefix}")),
        ("JUPYTERHUB_API_TOKEN", token.to_owned()),
        ("JUPYTERHUB_CLIENT_ID", client.client_id.clone()),
        ("JUPYTERHUB_API_URL", api.clone()),
        ("JUPYTERHUB_SERVICE_PREFIX", prefix.clone()),
        ("JUPYTERHUB_OAUTH_ACCESS_SCOPES", scopes.clone()),
        ("JUPYTERHUB_OAUTH_SCOPES", scopes),
        ("JUPYTERHUB_OAUTH_CALLBACK_URL", client.redirect_uri.clone()),
        ("JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES", "[]".to_owned()),
        ("JUPYTERHUB_BASE_URL", "/".to_owned()),
        ("JUPYTERHUB_USER", user.to_string()),
        ("JUPYTERHUB_SERVER_NAME", server.to_string()),
        ("JUPYTERHUB_ACTIVITY_URL", format!("{api}/users/{user}/activity")),
        ("JUPYTERHUB_ACTIVITY_INTERVAL", hub.config().servers.activity_poll_seconds.to_string()),
        ("JUPYTERHUB_DEFAULT_URL", "/lab".to_owned()),
    ];
    if let Some(public) = &hub.config().hub.public_url {
        let public = public.trim_end_matches('/');
        env.push(("JUPYTERHUB_PUBLIC_URL", format!("{public}{prefix}")));
        env.push(("JUPYTERHUB_PUBLIC_HUB_URL", format!("{public}/hub/")));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
