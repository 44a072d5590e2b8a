//! The access policy's query budget, counted: the statements the hub sends to its database for
//! the requests the gates see most (sqlx reports each one as a `sqlx::query` event; a tracing
//! layer counts them). Its own test binary, so the count is this test's hub alone. Each figure is
//! the least of several warm repetitions (background work — the activity flush, leases — only
//! ever adds); `bench/query-budget.sh` prints them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hub::servers::routes::Route;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::{TestApp, COOKIE};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct Counting;

impl<S: tracing::Subscriber> Layer<S> for Counting {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn count_statements() {
    let only_queries =
        tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE);
    let _ = tracing_subscriber::registry().with(Counting.with_filter(only_queries)).try_init();
}

/// A plain HTTP upstream on 127.0.0.1, as a running server would be.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn route_alice(app: &TestApp, upstream: SocketAddr) -> i64 {
    let name = hub::domain::UserName::parse("alice").unwrap();
    let alice = hub::users::find(&app.hub, &name).await.unwrap().unwrap();
    let server = hub::domain::ServerName::default_server();
    let mut conn = app.hub.db().acquire().await.unwrap();
    hub::db::servers::ensure(&mut conn, alice.id, &server, 0).await.unwrap();
    let row = hub::db::servers::get(&mut *conn, alice.id, &server).await.unwrap().unwrap();
    app.hub.routes().add(
        "alice",
        "",
        Route {
            server_id: row.id,
            user_id: alice.id,
            upstream: hub::spawner::Upstream::http(upstream.ip(), upstream.port()),
            token: Some("upstream-token".into()),
        },
    );
    alice.id
}

/// Statements of the first (cold) request of `send`, and the least one request cost over warm
/// repetitions.
async fn least<F, Fut>(label: &str, mut send: F) -> (u64, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::StatusCode>,
{
    // Warm: the first request fills the access policy's memory.
    let before = STATEMENTS.load(Ordering::SeqCst);
    assert!(send().await.is_success(), "{label}: the request succeeds");
    let cold = STATEMENTS.load(Ordering::SeqCst) - before;
    let mut least = u64::MAX;
    for _ in 0..7 {
        let before = STATEMENTS.load(Ordering::SeqCst);
        let status = send().await;
        // Statements of the request are counted when they finish; the answer came after them.
        let after = STATEMENTS.load(Ordering::SeqCst);
        assert!(status.is_success(), "{label}: {status}");
        least = least.min(after - before);
    }
    println!("query budget: {label}: {least} statement(s) per request warm, {cold} cold");
    (cold, least)
}

fn with_cookie(app: &TestApp, path: &str, session: &str) -> reqwest::RequestBuilder {
    app.http.get(app.url(path)).header("cookie", format!("{COOKIE}={session}"))
}

fn with_token(app: &TestApp, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.http.get(app.url(path)).header("authorization", format!("token {token}"))
}

async fn token_of(app: &TestApp, session: &str, user: &str) -> String {
    let response = app
        .http
        .post(app.url(&format!("/hub/api/users/{user}/tokens")))
        .header("cookie", format!("{COOKIE}={session}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_gates_stay_within_their_query_budget() {
    count_statements();
    let app = TestApp::spawn_with(|c| {
        c.roles.push(hub::config::RoleConfig {
            name: "assistants".into(),
            description: "open alice's servers".into(),
            scopes: vec!["access:servers!user=alice".into()],
            users: vec!["carol".into()],
            groups: vec![],
            services: vec![],
        });
    })
    .await;
    for (name, admin) in [("alice", false), ("bob", false), ("carol", false), ("root", true)] {
        app.add_user(name, &format!("{name}-password"), admin).await;
    }
    route_alice(&app, upstream().await).await;
    let alice = app.session("alice", "alice-password").await;
    let bob = app.session("bob", "bob-password").await;
    let carol = app.session("carol", "carol-password").await;
    let root = app.session("root", "root-password").await;
    let owner =
        hub::users::find(&app.hub, &hub::domain::UserName::parse("alice").unwrap()).await.unwrap().unwrap();
    let with = hub::sharing::With::User("bob".into());
    hub::sharing::share(&app.hub, None, &owner, &hub::domain::ServerName::default_server(), &with)
        .await
        .unwrap();
    let alice_token = token_of(&app, &alice, "alice").await;
    let root_token = token_of(&app, &root, "root").await;
    // Let the start-up's background work settle.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let send = |request: reqwest::RequestBuilder| async move { request.send().await.unwrap().status() };
    let by_owner =
        least("proxied GET by the owner", || send(with_cookie(&app, "/user/alice/x", &alice))).await;
    let by_recipient =
        least("proxied GET by a share recipient", || send(with_cookie(&app, "/user/alice/x", &bob))).await;
    let by_role =
        least("proxied GET by a role holder", || send(with_cookie(&app, "/user/alice/x", &carol))).await;
    let by_token = least("proxied GET with the owner's API token", || {
        send(with_token(&app, "/user/alice/x", &alice_token))
    })
    .await;
    let api_me = least("GET /hub/api/user with an API token", || {
        send(with_token(&app, "/hub/api/user", &alice_token))
    })
    .await;
    let api_user = least("GET /hub/api/users/alice with an admin's token", || {
        send(with_token(&app, "/hub/api/users/alice", &root_token))
    })
    .await;

    // The counter counts: a recipient's first request reads what is shared with them.
    assert!(by_recipient.0 > 0, "the cold request read the database");
    let (by_owner, by_recipient, by_role, by_token) = (by_owner.1, by_recipient.1, by_role.1, by_token.1);
    let (api_me, api_user) = (api_me.1, api_user.1);
    assert_eq!(by_owner, 0, "an owner's proxied request costs no query");
    assert!(by_recipient <= 1, "a share recipient's proxied request: {by_recipient}");
    assert!(by_role <= 1, "a role holder's proxied request: {by_role}");
    assert!(by_token <= 1, "a token's proxied request: {by_token}");
    assert!(api_me <= 2, "GET /hub/api/user: {api_me}");
    assert!(api_user <= 3, "GET /hub/api/users/alice: {api_user}");
}
