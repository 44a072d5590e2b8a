//! The proxy against real upstream servers on 127.0.0.1: an HTTP server that streams and echoes
//! headers, a websocket echo server, and the real JupyterLab (`ganymede/base`) where it matters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use hub::servers::routes::Route;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, COOKIE};

const CHUNK: usize = 64 * 1024;
const BIG_CHUNKS: usize = 160; // 10 MiB

type Gate = Arc<Mutex<Option<oneshot::Receiver<()>>>>;

/// An upstream that streams a big body (holding back all but the first chunk until the gate
/// opens) and echoes request headers.
async fn http_upstream(gate: Gate) -> SocketAddr {
    let app = Router::new()
        .route(
            "/user/alice/big",
            get(move || {
                let gate = gate.clone();
                async move {
                    let waiter = gate.lock().unwrap().take();
                    let body = futures_util::stream::unfold((0usize, waiter), |(i, waiter)| async move {
                        if i >= BIG_CHUNKS {
                            return None;
                        }
                        let mut waiter = waiter;
                        if i == 1 {
                            if let Some(w) = waiter.take() {
                                let _ = w.await;
                            }
                        }
                        Some((Ok::<_, std::io::Error>(vec![b'x'; CHUNK]), (i + 1, waiter)))
                    });
                    Body::from_stream(body)
                }
            }),
        )
        .route(
            "/user/alice/cors",
            get(|| async {
                ([("access-control-allow-origin", "*"), ("access-control-allow-credentials", "true")], "{}")
            }),
        )
        .route(
            "/user/alice/headers",
            axum::routing::any(|request: Request| async move {
                let headers: serde_json::Map<String, serde_json::Value> = request
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().into()))
                    .collect();
                axum::Json(headers)
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A websocket server that echoes every message (tungstenite answers pings and closes itself).
async fn ws_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Routes alice's default server (or a named one) to `upstream`, as a running server would be.
async fn route(app: &TestApp, server: &str, upstream: SocketAddr) {
    let name = hub::domain::UserName::parse("alice").unwrap();
    let user = hub::users::find(&app.hub, &name).await.unwrap().unwrap();
    let name = hub::domain::ServerName::parse(server).unwrap();
    let mut conn = app.hub.db().acquire().await.unwrap();
    hub::db::servers::ensure(&mut conn, user.id, &name, 0).await.unwrap();
    let row = hub::db::servers::get(&mut *conn, user.id, &name).await.unwrap().unwrap();
    app.hub.routes().add(
        "alice",
        server,
        Route {
            server_id: row.id,
            user_id: user.id,
            upstream: hub::spawner::Upstream::http(upstream.ip(), upstream.port()),
            token: Some("upstream-token".into()),
        },
    );
}

async fn alice_app() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("bob", "bob-password", false).await;
    let session = app.session("alice", "alice-password").await;
    (app, session)
}

#[tokio::test]
async fn large_downloads_stream_through_without_buffering() {
    let (app, session) = alice_app().await;
    let (open, gate) = oneshot::channel();
    route(&app, "", http_upstream(Arc::new(Mutex::new(Some(gate)))).await).await;

    let mut response = app.get("/user/alice/big", Some(&session)).await;
    assert_eq!(response.status(), 200);
    // The first chunk arrives while the upstream still holds the rest back.
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("first bytes stream")
        .unwrap();
    assert!(first.is_some_and(|c| !c.is_empty()));
    open.send(()).unwrap();
    let mut total = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        total += chunk.len();
    }
    assert!(total >= (BIG_CHUNKS - 1) * CHUNK, "{total}");
}

#[tokio::test]
async fn jupyter_sees_its_token_and_forwarded_headers_but_never_the_hub_cookie() {
    let (app, session) = alice_app().await;
    route(&app, "", http_upstream(Arc::new(Mutex::new(None))).await).await;
    let response = app
        .http
        .get(app.url("/user/alice/headers"))
        .header("cookie", format!("_xsrf=abc; {COOKIE}={session}"))
        .header("authorization", "token browser-supplied")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: serde_json::Value = response.json().await.unwrap();
    assert_eq!(seen["authorization"], "token upstream-token");
    assert_eq!(seen["cookie"], "_xsrf=abc");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert!(seen["host"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn websockets_relay_text_binary_large_frames_pings_and_close_codes() {
    let (app, session) = alice_app().await;
    route(&app, "ws", ws_upstream().await).await;

    let mut request = format!("{}/user/alice/ws/channels", app.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert("cookie", format!("{COOKIE}={session}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("upgrade through the proxy");

    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));

    let big: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Binary(b) => assert!(b.as_ref() == big.as_slice(), "8 MiB echoed intact"),
        other => panic!("expected binary, got {other:?}"),
    }

    ws.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    let pong = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Pong(p) => break p,
            _ => continue,
        }
    };
    assert_eq!(pong.as_ref(), b"are you there");

    ws.send(Message::Close(Some(CloseFrame { code: CloseCode::from(4001), reason: "done".into() })))
        .await
        .unwrap();
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(4001));
}

#[tokio::test]
async fn a_dead_upstream_gives_502_quickly() {
    let (app, session) = alice_app().await;
    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    route(&app, "", closed).await;
    let started = std::time::Instant::now();
    let response = app.get("/user/alice/api/status", Some(&session)).await;
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("not answering"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn other_users_and_signed_out_visitors_do_not_get_through() {
    let (app, _alice) = alice_app().await;
    route(&app, "", http_upstream(Arc::new(Mutex::new(None))).await).await;
    let bob = app.session("bob", "bob-password").await;
    assert_eq!(app.get("/user/alice/headers", Some(&bob)).await.status(), 403);
    let anonymous = app.get("/user/alice/headers", None).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/hub/login?next=/user/alice/headers");
    let post = app.http.post(app.url("/user/alice/headers")).send().await.unwrap();
    assert_eq!(post.status(), 401);
}

/// Sends a request line exactly as given (no client-side normalisation) and returns the status.
async fn raw_status(app: &TestApp, path: &str, session: &str) -> u16 {
    let addr = app.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {COOKIE}={session}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[tokio::test]
async fn traversal_and_encoded_slashes_cannot_reach_another_users_route() {
    let (app, _alice) = alice_app().await;
    route(&app, "", http_upstream(Arc::new(Mutex::new(None))).await).await;
    let bob = app.session("bob", "bob-password").await;
    assert_eq!(raw_status(&app, "/user/bob/../alice/headers", &bob).await, 400);
    assert_eq!(raw_status(&app, "/user/bob/%2e%2e/alice/headers", &bob).await, 503);
    assert_eq!(raw_status(&app, "/user/bob%2f..%2falice/headers", &bob).await, 404);
    assert_eq!(raw_status(&app, "/user/ALICE/headers", &bob).await, 404);
    assert_eq!(raw_status(&app, "/user/alice/headers", &bob).await, 403);
}

#[tokio::test]
async fn requests_that_change_something_are_activity_in_batches_and_polling_is_not() {
    let (app, session) = alice_app().await;
    route(&app, "", http_upstream(Arc::new(Mutex::new(None))).await).await;
    let before: Option<i64> =
        sqlx::query_scalar("SELECT last_activity FROM servers").fetch_one(app.hub.db()).await.unwrap();
    assert_eq!(before, None);
    // An open tab polls: GETs are no sign that anyone works.
    for _ in 0..5 {
        assert_eq!(app.get("/user/alice/headers", Some(&session)).await.status(), 200);
    }
    assert_eq!(app.hub.activity().flush(&app.hub).await.unwrap(), 0);
    // A save (or any request that changes something) is.
    for _ in 0..5 {
        let saved = app
            .http
            .put(app.url("/user/alice/headers"))
            .header("cookie", format!("{COOKIE}={session}"))
            .header("origin", &app.base)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200);
    }
    // Nothing is written per request; one flush writes the batch.
    let still: Option<i64> =
        sqlx::query_scalar("SELECT last_activity FROM servers").fetch_one(app.hub.db()).await.unwrap();
    assert_eq!(still, None);
    assert_eq!(app.hub.activity().flush(&app.hub).await.unwrap(), 1);
    let after: Option<i64> =
        sqlx::query_scalar("SELECT last_activity FROM servers").fetch_one(app.hub.db()).await.unwrap();
    assert!(after.is_some());
    let user_activity: Option<i64> =
        sqlx::query_scalar("SELECT last_activity FROM users WHERE name = 'alice'")
            .fetch_one(app.hub.db())
            .await
            .unwrap();
    assert!(user_activity >= after);
}

/// A websocket handshake through the proxy with alice's cookie and the given `Origin`.
async fn upgrade_from(
    app: &TestApp,
    session: &str,
    path: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request =
        format!("{}{path}", app.base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("cookie", format!("{COOKIE}={session}").parse().unwrap());
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.map(|(ws, _)| ws)
}

fn refused_with(result: Result<impl Sized, tokio_tungstenite::tungstenite::Error>) -> Option<u16> {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
        _ => None,
    }
}

#[tokio::test]
async fn websocket_upgrades_from_other_origins_are_refused() {
    let (app, session) = alice_app().await;
    route(&app, "", ws_upstream().await).await;
    let port = app.base.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    for origin in ["http://evil.example", "null", other_port.as_str(), "https://127.0.0.1"] {
        let result = upgrade_from(&app, &session, "/user/alice/terminals/websocket/1", Some(origin)).await;
        assert_eq!(refused_with(result), Some(403), "Origin {origin} must be refused");
    }
    // The hub's own origin, and clients that send no Origin (not browsers), get through.
    let mut ws = upgrade_from(&app, &session, "/user/alice/api/kernels/k/channels", Some(&app.base))
        .await
        .expect("same-origin upgrade");
    ws.send(Message::text("same origin")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("same origin"));
    let mut ws = upgrade_from(&app, &session, "/user/alice/ws", None).await.expect("upgrade without Origin");
    ws.send(Message::text("no origin")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("no origin"));
}

#[tokio::test]
async fn configured_origins_may_open_websockets_too() {
    let app = TestApp::spawn_with(|c| c.hub.allowed_origins = vec!["https://lab.example.org".into()]).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    route(&app, "", ws_upstream().await).await;
    assert!(upgrade_from(&app, &session, "/user/alice/ws", Some("https://lab.example.org")).await.is_ok());
    let refused = upgrade_from(&app, &session, "/user/alice/ws", Some("https://other.example.org")).await;
    assert_eq!(refused_with(refused), Some(403));
}

#[tokio::test]
async fn jupyters_wildcard_cors_answers_do_not_reach_other_origins() {
    let (app, session) = alice_app().await;
    route(&app, "", http_upstream(Arc::new(Mutex::new(None))).await).await;
    let get = |origin: &'static str| {
        app.http
            .get(app.url("/user/alice/cors"))
            .header("cookie", format!("{COOKIE}={session}"))
            .header("origin", origin)
            .send()
    };
    let evil = get("http://evil.example").await.unwrap();
    assert_eq!(evil.status(), 200);
    assert!(evil.headers().get("access-control-allow-origin").is_none(), "{:?}", evil.headers());
    assert!(evil.headers().get("access-control-allow-credentials").is_none());
    let own = app
        .http
        .get(app.url("/user/alice/cors"))
        .header("cookie", format!("{COOKIE}={session}"))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(own.headers()["access-control-allow-origin"], app.base.as_str());
}

async fn token_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http.get(app.url(path)).header("authorization", format!("token {token}")).send().await.unwrap()
}

#[tokio::test]
async fn api_tokens_reach_a_server_they_grant_access_to_and_nothing_else() {
    let (app, alice) = alice_app().await;
    app.add_user("root", "root-password", true).await;
    route(&app, "", http_upstream(Arc::new(Mutex::new(None))).await).await;
    let bob = app.session("bob", "bob-password").await;
    let root = app.session("root", "root-password").await;
    let token = |v: serde_json::Value| v["token"].as_str().unwrap().to_owned();
    let own = token(app.api_token(&alice, "alice", serde_json::json!({})).await);
    let bobs = token(app.api_token(&bob, "bob", serde_json::json!({})).await);
    let service = token(
        app.api_token(&root, "root", serde_json::json!({ "scopes": ["access:servers!server=alice/"] })).await,
    );
    let reader = token(
        app.api_token(&alice, "alice", serde_json::json!({ "scopes": ["read:users!user=alice"] })).await,
    );

    let response = token_get(&app, "/user/alice/headers", &own).await;
    assert_eq!(response.status(), 200, "the owner's token gets through");
    let seen: serde_json::Value = response.json().await.unwrap();
    assert_eq!(seen["authorization"], "token upstream-token", "the client's token is never forwarded");
    assert!(!seen.to_string().contains(&own));

    let response = token_get(&app, "/user/alice/headers", &service).await;
    assert_eq!(response.status(), 200, "access:servers!server=alice/ gets through");
    let seen: serde_json::Value = response.json().await.unwrap();
    assert!(!seen.to_string().contains(&service));

    assert_eq!(token_get(&app, "/user/alice/headers", &bobs).await.status(), 403);
    assert_eq!(token_get(&app, "/user/alice/headers", &reader).await.status(), 403);
    assert_eq!(token_get(&app, "/user/alice/headers", "not-a-token").await.status(), 403);
    let bearer = app
        .http
        .get(app.url("/user/alice/headers"))
        .header("authorization", format!("Bearer {own}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A websocket to alice's `ws` server with one credential header (`cookie` or `authorization`).
async fn ws_with(
    app: &TestApp,
    header: &'static str,
    value: String,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("{}/user/alice/ws/channels", app.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(header, value.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.map(|(ws, _)| ws)
}

/// Whether the websocket still echoes.
async fn echoes(ws: &mut Ws) -> bool {
    if ws.send(Message::text("still there?")).await.is_err() {
        return false;
    }
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
    matches!(answer, Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "still there?")
}

/// Whether the hub ends the websocket within a few seconds (an end, an error or a close).
async fn ends_soon(ws: &mut Ws) -> bool {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .is_ok()
}

async fn with_token(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> u16 {
    let mut request =
        app.http.request(method, app.url(path)).header("authorization", format!("token {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn open_websockets_end_when_the_grant_behind_them_ends() {
    let (app, alice) = alice_app().await;
    route(&app, "ws", ws_upstream().await).await;
    let bob = app.session("bob", "bob-password").await;
    let admin = app.api_token(&alice, "alice", serde_json::json!({})).await;
    let admin = admin["token"].as_str().unwrap().to_owned();
    let second = app.api_token(&alice, "alice", serde_json::json!({ "note": "for a websocket" })).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let second = second["token"].as_str().unwrap().to_owned();

    let share = serde_json::json!({ "user": "bob" });
    assert_eq!(
        with_token(&app, reqwest::Method::POST, "/hub/api/shares/alice/ws", &admin, Some(share.clone()))
            .await,
        200
    );
    let mut bobs = ws_with(&app, "cookie", format!("{COOKIE}={bob}")).await.expect("shared with bob");
    let mut alices = ws_with(&app, "cookie", format!("{COOKIE}={alice}")).await.expect("alice's own");
    let mut by_token =
        ws_with(&app, "authorization", format!("token {second}")).await.expect("alice's token");
    assert!(echoes(&mut bobs).await && echoes(&mut alices).await && echoes(&mut by_token).await);

    // The share ends: bob's open websocket with it, and he cannot open another; alice's stay.
    assert_eq!(
        with_token(&app, reqwest::Method::PATCH, "/hub/api/shares/alice/ws", &admin, Some(share)).await,
        200
    );
    assert!(ends_soon(&mut bobs).await, "bob's websocket is closed when the share is revoked");
    assert_eq!(refused_with(ws_with(&app, "cookie", format!("{COOKIE}={bob}")).await), Some(403));
    assert!(echoes(&mut alices).await && echoes(&mut by_token).await, "the owner's websockets stay open");

    // The token is revoked: what it opened ends; the cookie's websocket stays.
    let path = format!("/hub/api/users/alice/tokens/{second_id}");
    assert_eq!(with_token(&app, reqwest::Method::DELETE, &path, &admin, None).await, 204);
    assert!(ends_soon(&mut by_token).await, "the revoked token's websocket is closed");
    assert!(echoes(&mut alices).await);

    // Alice signs out: her browser's websocket ends.
    let logout = app.get("/hub/logout", Some(&alice)).await;
    assert!(logout.status().is_redirection() || logout.status().is_success(), "{}", logout.status());
    assert!(ends_soon(&mut alices).await, "signing out closes the session's websockets");
}

#[tokio::test]
async fn an_admins_open_websocket_ends_when_they_are_no_longer_admin() {
    let app = TestApp::spawn_with(|c| c.servers.admin_access = true).await;
    app.add_user("alice", "alice-password", false).await;
    app.add_user("root", "root-password", true).await;
    route(&app, "ws", ws_upstream().await).await;
    let root = app.session("root", "root-password").await;
    let mut ws = ws_with(&app, "cookie", format!("{COOKIE}={root}")).await.expect("admin access");
    assert!(echoes(&mut ws).await);
    // As `ganymede user set-admin root --revoke` does.
    let name = hub::domain::UserName::parse("root").unwrap();
    hub::accounts::set_admin(&app.hub, None, &name, false).await.unwrap();
    assert!(ends_soon(&mut ws).await, "the demoted admin's websocket is closed");
    assert_eq!(refused_with(ws_with(&app, "cookie", format!("{COOKIE}={root}")).await), Some(403));
}

// ---- With the real JupyterLab (`ganymede/base`) as the upstream ----

/// Starts alice's default server in a container; returns the app and her session.
async fn alice_with_jupyter() -> (TestApp, String) {
    let (app, session) = alice_app().await;
    let last = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(last["ready"], true, "{last}");
    (app, session)
}

#[tokio::test]
async fn jupyter_kernel_channels_refuse_other_origins_and_work_from_the_hubs() {
    let (app, session) = alice_with_jupyter().await;
    let kernel: serde_json::Value = app
        .http
        .post(app.url("/user/alice/api/kernels"))
        .header("cookie", format!("{COOKIE}={session}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = kernel["id"].as_str().expect("a kernel id").to_owned();
    let path = format!("/user/alice/api/kernels/{id}/channels");

    let evil = upgrade_from(&app, &session, &path, Some("http://evil.example")).await;
    assert_eq!(refused_with(evil), Some(403), "cross-site kernel websocket refused");
    let terminal = upgrade_from(&app, &session, "/user/alice/terminals/websocket/1", Some("null")).await;
    assert_eq!(refused_with(terminal), Some(403));

    let mut ws = upgrade_from(&app, &session, &path, Some(&app.base)).await.expect("same-origin upgrade");
    let request = serde_json::json!({
        "header": {"msg_id": "t1", "username": "alice", "session": "s", "msg_type": "kernel_info_request",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell", "buffers": []
    });
    ws.send(Message::text(request.to_string())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(Ok(Message::Text(text))) = ws.next().await {
                let msg: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                if msg["msg_type"] == "kernel_info_reply" {
                    break msg;
                }
            }
        }
    })
    .await
    .expect("the kernel answers through the proxy");
    assert_eq!(reply["parent_header"]["msg_id"], "t1");
}

#[tokio::test]
async fn jupyter_accepts_the_owners_api_token_through_the_proxy() {
    let (app, session) = alice_with_jupyter().await;
    let bob = app.session("bob", "bob-password").await;
    let own =
        app.api_token(&session, "alice", serde_json::json!({})).await["token"].as_str().unwrap().to_owned();
    let bobs = app.api_token(&bob, "bob", serde_json::json!({})).await["token"].as_str().unwrap().to_owned();
    let status = token_get(&app, "/user/alice/api/status", &own).await;
    assert_eq!(status.status(), 200);
    let body: serde_json::Value = status.json().await.unwrap();
    assert!(body.get("started").is_some(), "{body}");
    assert_eq!(token_get(&app, "/user/alice/api/status", &bobs).await.status(), 403);
}
