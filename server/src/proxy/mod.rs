//! The proxy: `/user/{name}/[{server}/]…` to the user's Jupyter, HTTP streamed both ways and
//! websockets relayed byte for byte after the handshake. Only the owner (or an admin, where
//! `servers.admin_access` allows), or an API token with `access:servers` on that server, gets
//! through; websocket upgrades from other origins are refused; the hub's session cookie and the
//! client's own `Authorization` never reach Jupyter.

mod access;
mod counted;
mod forward;
mod origin;
mod pages;
mod quickack;
mod services;
mod websocket;

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::any;
use axum::Router;
use hub::domain::UserName;
use hub::servers::routes::Route;
use hub::Hub;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use quickack::QuickAckConnector;

/// State of the proxy routes: the hub, and one pooled HTTP client for every upstream.
#[derive(Clone)]
pub struct ProxyState {
    pub hub: Hub,
    pub client: Client<QuickAckConnector, axum::body::Body>,
    /// Bytes to servers (`in`) and to browsers (`out`).
    pub bytes: (hub::metrics::Counter, hub::metrics::Counter),
}

impl ProxyState {
    pub fn new(hub: Hub) -> Self {
        let mut connector = HttpConnector::new();
        // Jupyter leaves Nagle on; without NODELAY here each small write waits for a delayed ACK.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_idle_timeout(Duration::from_secs(60));
        // Read Jupyter's answers in pieces that grow (8 KiB doubling, up to 1 MiB) while reads
        // fill them and shrink when they do not: a large download moves in few big frames
        // (bench/wrk.sh: 10 MiB on one connection 0.97x direct, 0.79x with a fixed 64 KiB),
        // an idle pooled connection keeps a small buffer.
        builder.http1_max_buf_size(1024 * 1024);
        let client = builder.build(QuickAckConnector(connector));
        let bytes = hub.metrics().proxy_byte_counters();
        Self { hub, client, bytes }
    }
}

/// `/user/{name}` and everything below it, and `/services/{name}/…`.
pub fn router<S: Clone + Send + Sync + 'static>(state: ProxyState) -> Router<S> {
    Router::new()
        .route("/user/{*rest}", any(handle))
        .route("/services/{*rest}", any(services::handle))
        .with_state(state)
}

/// Splits `/user/{name}/{rest}`. Segments are compared raw (never percent-decoded), so encoded
/// slashes or dots cannot move a request to another user; `.`/`..` segments are refused.
pub(crate) fn parse_path(path: &str) -> Result<(UserName, Vec<&str>), StatusCode> {
    let rest = path.strip_prefix("/user/").ok_or(StatusCode::NOT_FOUND)?;
    let mut segments = rest.split('/');
    let raw_user = segments.next().unwrap_or_default();
    let others: Vec<&str> = segments.collect();
    if others.iter().any(|s| *s == ".." || *s == ".") {
        return Err(StatusCode::BAD_REQUEST);
    }
    let user = UserName::parse(raw_user).map_err(|_| StatusCode::NOT_FOUND)?;
    // Only the canonical spelling routes: `/user/Alice/` is not alice's.
    if user.as_str() != raw_user {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok((user, others))
}

async fn handle(State(state): State<ProxyState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let (user, rest) = match parse_path(&path) {
        Ok(parsed) => parsed,
        Err(status) => return pages::error(status, "There is nothing here."),
    };
    if rest.is_empty() {
        // `/user/alice` → `/user/alice/`
        return Redirect::permanent(&format!("/user/{user}/")).into_response();
    }
    let found = lookup(&state.hub, &user, &rest);
    let target = access::Target {
        user: &user,
        server: found.as_ref().map(|(_, server)| server.as_str()).unwrap_or_default(),
        user_id: found.as_ref().map(|(route, _)| route.user_id),
    };
    let upgrade = websocket::is_upgrade(&request);
    // A websocket hears every later change of the access policy, from before its check on.
    let changes = upgrade.then(|| state.hub.access().subscribe());
    let session = request.extensions().get::<hub::access::Session>().cloned();
    let grant = match access::decide(&state.hub, request.headers(), session.as_ref(), &target).await {
        access::Decision::Allowed(grant) => grant,
        access::Decision::SignIn if request.method() == Method::GET => {
            let next = without_token(request.uri());
            return Redirect::to(&format!("/hub/login?next={}", pages::encode(&next))).into_response();
        }
        access::Decision::SignIn => return pages::error(StatusCode::UNAUTHORIZED, "Please sign in."),
        access::Decision::Forbidden(why) => return pages::error(StatusCode::FORBIDDEN, why),
    };
    let origin = origin::judge(state.hub.config(), request.headers());
    if upgrade && origin == origin::Verdict::Refused {
        tracing::warn!(user.name = %user, "websocket from another origin refused");
        return pages::error(StatusCode::FORBIDDEN, "Websockets from other sites are refused.");
    }

    let Some((route, server)) = found else {
        return pages::not_running(&state.hub, &user, &rest).await;
    };
    // Only a request that changes something (a save, a new kernel, an execution by REST) is
    // activity; an open tab's polling is not.
    if !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        state.hub.activity().touch(route.server_id);
    }
    tracing::debug!(user.name = %user, server.name = %server, "proxying");
    if let Some(changes) = changes {
        let watch = websocket::Watch { grant, changes, server: server.clone(), user: user.clone() };
        websocket::relay(state, route, request, watch).await
    } else {
        forward::forward(&state, &route, &origin, request).await
    }
}

/// The path and query to come back to after signing in, without a `token` parameter (a token in
/// the URL must not travel on into the login page's address, the browser's history and logs).
fn without_token(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else { return path.to_owned() };
    let kept: Vec<&str> =
        query.split('&').filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("token")).collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// A named server when the first segment after the user names a running one, else the default.
fn lookup(hub: &Hub, user: &UserName, rest: &[&str]) -> Option<(Route, String)> {
    if let Some(first) = rest.first().filter(|s| !s.is_empty()) {
        if let Some(route) = hub.routes().get(user.as_str(), first) {
            return Some((route, (*first).to_owned()));
        }
    }
    hub.routes().get(user.as_str(), "").map(|r| (r, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_user_and_rest() {
        let (user, rest) = parse_path("/user/alice/lab/tree").unwrap();
        assert_eq!(user.as_str(), "alice");
        assert_eq!(rest, ["lab", "tree"]);
    }

    #[test]
    fn the_sign_in_redirect_drops_a_token_from_the_url() {
        let uri: axum::http::Uri = "/user/alice/lab?token=secret&reset".parse().unwrap();
        assert_eq!(without_token(&uri), "/user/alice/lab?reset");
        let uri: axum::http::Uri = "/user/alice/lab?token=secret".parse().unwrap();
        assert_eq!(without_token(&uri), "/user/alice/lab");
        let uri: axum::http::Uri = "/user/alice/tree?path=a&tokens=1".parse().unwrap();
        assert_eq!(without_token(&uri), "/user/alice/tree?path=a&tokens=1");
    }

    #[test]
    fn traversal_and_encoded_tricks_are_refused() {
        assert_eq!(parse_path("/user/alice/../bob/api").unwrap_err(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_path("/user/alice/./api").unwrap_err(), StatusCode::BAD_REQUEST);
        assert_eq!(parse_path("/user/alice%2f..%2fbob/api").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(parse_path("/user/Alice/api").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(parse_path("/user/%61lice/api").unwrap_err(), StatusCode::NOT_FOUND);
    }
}
