//! Websockets: the browser's upgrade is answered only after Jupyter accepted ours (with the
//! browser's own key, so both ends agree on the handshake), then the two upgraded connections are
//! joined byte for byte. Frames are never parsed or buffered whole: an idle websocket costs two
//! small copy buffers, and every frame (text, binary, ping/pong, close with its code, messages of
//! any size) passes through as the ends wrote it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use hub::access::Changed;
use hub::domain::UserName;
use hub::servers::routes::Route;
use hub::spawner::Upstream;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::{debug, info, warn};

use super::access::{self, Grant};
use super::forward::prepare_upstream_headers;
use super::quickack::QuickAck;
use super::{pages, ProxyState};

/// Headers of the client's handshake that Jupyter should see. Its `Authorization` reaches a
/// single-user server or a service (they check it with the hub, as over HTTP); for a plain
/// JupyterLab the hub's token replaces it.
const PASSED: &[&str] =
    &["origin", "cookie", "authorization", "user-agent", "sec-websocket-protocol", "x-forwarded-for"];

/// Size of each direction's copy buffer: what an idle websocket holds besides its sockets.
const COPY_BUFFER: usize = 8 * 1024;

pub fn is_upgrade(request: &Request) -> bool {
    let header_has = |name, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    header_has(UPGRADE, "websocket") && header_has(CONNECTION, "upgrade")
}

/// The upgrade request Jupyter (or a service) gets: the browser's key, version and protocols,
/// Jupyter's token where the hub holds one (else the client's own); never the hub's session cookie.
fn upstream_request(
    state: &ProxyState,
    token: Option<&str>,
    request: &Request,
    key: &HeaderValue,
) -> Result<axum::http::Request<Body>, axum::http::Error> {
    let path_and_query = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut upstream = axum::http::Request::get(path_and_query).body(Body::empty())?;
    let headers = upstream.headers_mut();
    for name in PASSED {
        for value in request.headers().get_all(*name) {
            headers.append(*name, value.clone());
        }
    }
    // Jupyter checks Origin against Host: keep the browser's Host.
    if let Some(host) = request.headers().get(HOST) {
        headers.insert(HOST, host.clone());
    }
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_KEY, key.clone());
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    prepare_upstream_headers(headers, state, token, peer);
    Ok(upstream)
}

/// Opens the upgraded connection to Jupyter, or the page to answer the browser with.
async fn connect_upstream(
    upstream: &Upstream,
    request: axum::http::Request<Body>,
) -> Result<(hyper::upgrade::Upgraded, HeaderMap), Response> {
    let addr = upstream.socket_addr();
    let tcp = match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        _ => return Err(pages::upstream_down("connection refused")),
    };
    let handshake = async {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(QuickAck::new(tcp))).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                debug!(error = %e, "upstream websocket connection ended");
            }
        });
        sender.send_request(request).await
    };
    let response = match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            warn!(error = %e, "websocket handshake with Jupyter failed");
            return Err(pages::upstream_down("the websocket handshake failed"));
        }
        Err(_) => return Err(pages::upstream_down("the websocket handshake timed out")),
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(pages::error(response.status(), "The server behind this address refused the websocket."));
    }
    let headers = response.headers().clone();
    match hyper::upgrade::on(response).await {
        Ok(upgraded) => Ok((upgraded, headers)),
        Err(e) => {
            warn!(error = %e, "Jupyter's websocket upgrade failed");
            Err(pages::upstream_down("the websocket handshake failed"))
        }
    }
}

/// What an open websocket watches: the changes of the access policy since its check, and what
/// let it in. A change that concerns it makes it ask again; refused, it is closed.
pub struct Watch {
    pub grant: Grant,
    pub changes: broadcast::Receiver<Changed>,
    pub user: UserName,
    pub server: String,
}

/// Resolves when the grant behind the connection is gone.
async fn grant_ends(state: &ProxyState, route: &Route, credentials: &HeaderMap, mut watch: Watch) {
    loop {
        let ask = match watch.changes.recv().await {
            Ok(change) => access::concerns(&change, &watch.grant, route.user_id, route.server_id),
            // Missed some: ask to be sure.
            Err(broadcast::error::RecvError::Lagged(_)) => true,
            // The hub is shutting down: the connection ends with the process.
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        };
        if !ask {
            continue;
        }
        let target =
            access::Target { user: &watch.user, server: &watch.server, user_id: Some(route.user_id) };
        let session = access::session_of(&state.hub, credentials).await;
        match access::decide(&state.hub, credentials, session.as_ref(), &target).await {
            access::Decision::Allowed(_) => {}
            _ => {
                info!(user.name = %watch.user, server.name = %watch.server, "websocket closed: its grant ended");
                return;
            }
        }
    }
}

/// Relays a websocket to a user's server: it ends when the grant behind it does. What passes is
/// not activity (an idle tab keeps its sockets open): the kernels say what is (`servers::kernels`).
pub async fn relay(state: ProxyState, route: Route, request: Request, watch: Watch) -> Response {
    let credentials = access::credentials(request.headers());
    let upstream = route.upstream.clone();
    let token = route.token.clone();
    let watcher = state.clone();
    let ends = async move { grant_ends(&watcher, &route, &credentials, watch).await };
    join(&state, &upstream, token.as_deref(), request, ends).await
}

/// Who opened a websocket to a service, when a person signed in to the hub did and held
/// `access:services` on it then: the connection ends with that session or that access.
pub struct ServiceWatch {
    pub viewer_id: i64,
    pub session_id: i64,
    pub service: String,
    pub changes: broadcast::Receiver<Changed>,
}

/// Resolves when the session or the access behind a person's websocket to a service is gone.
async fn service_grant_ends(state: &ProxyState, credentials: &HeaderMap, mut watch: ServiceWatch) {
    loop {
        let ask = match watch.changes.recv().await {
            Ok(change) => hub::access::concerns_person(&change, watch.viewer_id, watch.session_id),
            Err(broadcast::error::RecvError::Lagged(_)) => true,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        };
        if !ask {
            continue;
        }
        let still = match access::session_of(&state.hub, credentials).await {
            Some(session) if session.id == watch.session_id => {
                hub::access::may_open_service(&state.hub, &session.user, &watch.service).await
            }
            _ => Ok(false),
        };
        match still {
            Ok(true) => {}
            Ok(false) => {
                info!(service.name = %watch.service, "websocket to a service closed: its person's access ended");
                return;
            }
            Err(e) => {
                warn!(service.name = %watch.service, error = %e, "websocket to a service closed: its access could not be checked");
                return;
            }
        }
    }
}

/// Relays a websocket to a service. A service signs its people in itself; when a signed-in person
/// with access to it opened the connection, it also ends when their session or access does.
pub async fn relay_to_service(
    state: ProxyState,
    upstream: Upstream,
    request: Request,
    watch: Option<ServiceWatch>,
) -> Response {
    match watch {
        Some(watch) => {
            let credentials = access::credentials(request.headers());
            let watcher = state.clone();
            let ends = async move { service_grant_ends(&watcher, &credentials, watch).await };
            join(&state, &upstream, None, request, ends).await
        }
        None => join(&state, &upstream, None, request, std::future::pending()).await,
    }
}

/// Opens the upstream upgrade first, then answers the browser's and joins the two connections
/// until either closes or `ends` resolves.
async fn join<E>(
    state: &ProxyState,
    upstream: &Upstream,
    token: Option<&str>,
    mut request: Request,
    ends: E,
) -> Response
where
    E: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(key) = request.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return pages::error(StatusCode::BAD_REQUEST, "A websocket upgrade needs Sec-WebSocket-Key.");
    };
    let Ok(upstream_request) = upstream_request(state, token, &request, &key) else {
        return pages::error(StatusCode::BAD_REQUEST, "That address cannot be forwarded.");
    };
    let (upstream, upstream_headers) = match connect_upstream(upstream, upstream_request).await {
        Ok(pair) => pair,
        Err(page) => return page,
    };

    let on_upgrade = hyper::upgrade::on(&mut request);
    let (bytes_in, bytes_out) = state.bytes.clone();
    let open = state.hub.metrics().websocket_opened();
    let stopping = state.hub.stopping();
    state.hub.metrics().proxied(StatusCode::SWITCHING_PROTOCOLS.as_u16());
    tokio::spawn(async move {
        let _open = open;
        match on_upgrade.await {
            Ok(browser) => {
                let mut browser = TokioIo::new(browser);
                let mut upstream = TokioIo::new(upstream);
                let copied = tokio::io::copy_bidirectional_with_sizes(
                    &mut browser,
                    &mut upstream,
                    COPY_BUFFER,
                    COPY_BUFFER,
                );
                // Both sockets close when the grant ends or the hub stops (dropped with the
                // copy; the server keeps running and JupyterLab reconnects to it).
                tokio::select! {
                    copied = copied => match copied {
                        Ok((to_upstream, to_browser)) => {
                            bytes_in.inc_by(to_upstream);
                            bytes_out.inc_by(to_browser);
                        }
                        Err(e) => debug!(error = %e, "websocket relay ended"),
                    },
                    () = ends => {}
                    () = stopping => {}
                }
            }
            Err(e) => debug!(error = %e, "browser websocket upgrade failed"),
        }
    });

    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(p) = upstream_headers.get(SEC_WEBSOCKET_PROTOCOL) {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, p.clone());
    }
    response
}
