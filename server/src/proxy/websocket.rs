//! Websockets: the browser's upgrade is answered only after Jupyter accepted ours, then frames
//! (text, binary, ping/pong, close with its code, messages of any size) are relayed both ways.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use hub::servers::routes::Route;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn};

use super::forward::prepare_upstream_headers;
use super::quickack::QuickAck;
use super::{pages, ProxyState};

/// Headers of the browser's handshake that Jupyter should see.
const PASSED: &[&str] = &["origin", "cookie", "user-agent", "sec-websocket-protocol", "x-forwarded-for"];

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

fn config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(1 << 30)).max_frame_size(Some(1 << 28))
}

pub async fn relay(state: ProxyState, route: Route, mut request: Request) -> Response {
    let Some(key) = request.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return pages::error(StatusCode::BAD_REQUEST, "A websocket upgrade needs Sec-WebSocket-Key.");
    };
    let host_port = route.upstream.trim_start_matches("http://").to_owned();
    let path_and_query = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    let Ok(mut upstream_request) = format!("ws://{host_port}{path_and_query}").into_client_request() else {
        return pages::error(StatusCode::BAD_REQUEST, "That address cannot be forwarded.");
    };
    {
        let headers = upstream_request.headers_mut();
        for name in PASSED {
            for value in request.headers().get_all(*name) {
                headers.append(*name, value.clone());
            }
        }
        // Jupyter checks Origin against Host: keep the browser's Host.
        if let Some(host) = request.headers().get(HOST) {
            headers.insert(HOST, host.clone());
        }
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        prepare_upstream_headers(headers, &state, &route, peer);
    }

    let tcp = match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&host_port)).await {
        Ok(Ok(tcp)) => tcp,
        _ => return pages::upstream_down("connection refused"),
    };
    let (upstream, upstream_response) = match tokio_tungstenite::client_async_with_config(
        upstream_request,
        QuickAck::new(tcp),
        Some(config()),
    )
    .await
    {
        Ok(pair) => pair,
        Err(WsError::Http(refused)) => {
            let status = refused.status();
            return pages::error(status, "The notebook server refused the websocket.");
        }
        Err(e) => {
            warn!(error = %e, "websocket handshake with Jupyter failed");
            return pages::upstream_down("the websocket handshake failed");
        }
    };
    let protocol = upstream_response.headers().get(SEC_WEBSOCKET_PROTOCOL).cloned();

    let on_upgrade = hyper::upgrade::on(&mut request);
    let activity = state.hub.activity().clone();
    let server_id = route.server_id;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let client =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config()))
                        .await;
                pump(client, upstream, move || activity.touch(server_id)).await;
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
    if let Some(p) = protocol {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, p);
    }
    response
}

/// Relays frames until both directions are closed.
async fn pump<A, B>(client: WebSocketStream<A>, upstream: WebSocketStream<B>, touch: impl Fn() + Send + Sync)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut client_tx, mut client_rx) = client.split();
    let (mut upstream_tx, mut upstream_rx) = upstream.split();
    let to_upstream = async {
        while let Some(Ok(message)) = client_rx.next().await {
            touch();
            if upstream_tx.send(message).await.is_err() {
                break;
            }
        }
        let _ = upstream_tx.close().await;
    };
    let to_client = async {
        while let Some(Ok(message)) = upstream_rx.next().await {
            if client_tx.send(message).await.is_err() {
                break;
            }
        }
        let _ = client_tx.close().await;
    };
    tokio::join!(to_upstream, to_client);
}
