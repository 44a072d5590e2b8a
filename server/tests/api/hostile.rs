//! Requests no browser sends: odd request forms and methods, written on a raw socket. None may
//! panic a handler or drop the connection unanswered, and the hub keeps serving afterwards.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// Writes `request` on a fresh connection and returns the status code of the answer, or `None`
/// when the hub closed the connection without answering.
async fn raw_status(app: &TestApp, request: &str) -> Option<u16> {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("request written");
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the hub answered in time: {request:?}");
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace().nth(1).and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn odd_request_forms_and_methods_are_refused_and_the_hub_keeps_serving() {
    let app = TestApp::spawn().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let requests = [
        "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n".to_owned(),
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
        format!("GET http://127.0.0.1:{port}/hub/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
        "GET http://evil.example/hub/api/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_owned(),
        format!("OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
        format!("PROPFIND /hub/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
        format!("TRACE /hub/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
        format!("BREW /user/alice/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    ];
    for request in &requests {
        let status = raw_status(&app, request).await;
        assert!(
            status.is_some_and(|s| (400..500).contains(&s)),
            "answered {status:?} (None: connection dropped) to {request:?}"
        );
        assert_eq!(app.get("/hub/health", None).await.status(), 200, "still serving after {request:?}");
    }
    // The methods the hub serves still reach it.
    let ok = format!("GET /hub/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&app, &ok).await, Some(200));
}

async fn boom_in_the_api() -> &'static str {
    panic!("boom in the API")
}

async fn boom_on_a_page() -> &'static str {
    panic!("boom on a page")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_in_the_error_shape_and_the_server_survives() {
    use axum::routing::get;
    // The hub's own outer layers around handlers that panic.
    let router = ganymede_server::startup::harden(
        axum::Router::new()
            .route("/hub/api/boom", get(boom_in_the_api))
            .route("/hub/boom", get(boom_on_a_page))
            .route("/hub/fine", get(|| async { "fine" })),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = crate::helpers::client_builder().build().unwrap();

    let api = http.get(format!("{base}/hub/api/boom")).send().await.expect("answered, not dropped");
    assert_eq!(api.status(), 500);
    assert!(api.headers().contains_key("x-jupyterhub-version"));
    let body: serde_json::Value = api.json().await.expect("the API's JSON error shape");
    assert_eq!(body["status"], 500);
    assert!(!body["message"].as_str().unwrap().contains("boom"), "the panic text stays in the log");

    let page = http.get(format!("{base}/hub/boom")).send().await.expect("answered, not dropped");
    assert_eq!(page.status(), 500);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(!page.text().await.unwrap().contains("boom"));

    assert_eq!(http.get(format!("{base}/hub/fine")).send().await.unwrap().text().await.unwrap(), "fine");
}
