//! Plain HTTP forwarding: bodies stream both ways (nothing is buffered).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{AUTHORIZATION, CONNECTION, COOKIE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, Version};
use axum::response::Response;
use hub::servers::routes::Route;
use hub::spawner::Upstream;
use tracing::warn;

use super::origin::{restrict_cors, Verdict};
use super::{pages, ProxyState};

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including any that `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Drops the hub's session cookie from `Cookie`, keeping Jupyter's own cookies.
pub fn strip_cookie(headers: &mut HeaderMap, cookie_name: &str) {
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(cookie_name))
        .map(str::to_owned)
        .collect();
    headers.remove(COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(COOKIE, v);
        }
    }
}

/// Sets what Jupyter should see: its token (when the hub holds one for it), and where the
/// request really came from.
pub fn prepare_upstream_headers(
    headers: &mut HeaderMap,
    state: &ProxyState,
    token: Option<&str>,
    peer: Option<SocketAddr>,
) {
    strip_cookie(headers, &state.hub.config().session.cookie_name);
    if let Some(token) = token {
        if let Ok(v) = HeaderValue::from_str(&format!("token {token}")) {
            headers.insert(AUTHORIZATION, v);
        }
    }
    if let Some(peer) = peer {
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
            headers.insert("x-forwarded-for", v);
        }
    }
    let proto = if state.hub.config().secure_cookies() { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
}

/// Forwards a request to a user's server.
pub async fn forward(state: &ProxyState, route: &Route, origin: &Verdict, request: Request) -> Response {
    let response = send(state, &route.upstream, route.token.as_deref(), origin, request).await;
    if response.extensions().get::<Refused>().is_some() {
        // Perhaps the server died or moved: check that one (debounced) rather than wait for the
        // next poll.
        hub::servers::check_soon(&state.hub, route.server_id);
    }
    response
}

/// Marks the answer to a request whose upstream refused the connection.
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// Sends a request to `upstream` with its path unchanged (and `token` as Jupyter's, when the
/// hub holds one) and streams the answer back.
pub async fn send(
    state: &ProxyState,
    upstream: &Upstream,
    token: Option<&str>,
    origin: &Verdict,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let Ok(uri) = format!("{}{}", upstream.origin(), path_and_query).parse::<Uri>() else {
        return pages::error(axum::http::StatusCode::BAD_REQUEST, "That address cannot be forwarded.");
    };
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    strip_hop_by_hop(&mut parts.headers);
    prepare_upstream_headers(&mut parts.headers, state, token, peer);
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    parts.extensions = Default::default();
    let body = Body::new(super::counted::Counted::new(body, state.bytes.0.clone()));
    let upstream_request = axum::http::Request::from_parts(parts, body);
    match state.client.request(upstream_request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            restrict_cors(&mut parts.headers, origin);
            state.hub.metrics().proxied(parts.status.as_u16());
            Response::from_parts(parts, Body::new(super::counted::Counted::new(body, state.bytes.1.clone())))
        }
        Err(e) => {
            warn!(upstream = %upstream, error = %e, "upstream request failed");
            if e.is_connect() {
                let mut page = pages::upstream_down("connection refused");
                page.extensions_mut().insert(Refused);
                page
            } else {
                pages::upstream_down("the connection failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_cookie_is_removed_and_others_kept() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("_xsrf=abc; ganymede-session=secret; other=1"));
        strip_cookie(&mut h, "ganymede-session");
        assert_eq!(h.get(COOKIE).unwrap(), "_xsrf=abc; other=1");
        let mut only = HeaderMap::new();
        only.insert(COOKIE, HeaderValue::from_static("ganymede-session=secret"));
        strip_cookie(&mut only, "ganymede-session");
        assert!(only.get(COOKIE).is_none());
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert!(
            h.get("x-secret-hop").is_none() && h.get("keep-alive").is_none() && h.get(CONNECTION).is_none()
        );
        assert!(h.get("x-kept").is_some());
    }
}
