//! An upgrade in place, with two real builds: the previous release (built from git history by
//! `scripts/build-previous.sh`) runs a hub with a server and a kernel that holds a variable; it
//! gets SIGTERM and exits; this build (which adds a schema migration) takes over the same
//! database; the server keeps running, the same container, and the browser's reconnected
//! websocket finds the kernel's variable. Then this build's own SIGTERM: it stops within its
//! grace period with a websocket open, exits 0, leaves the server running, and the next start
//! adopts it again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::cli::ganymede_of;
use crate::helpers::{
    containers, inspect, kernel_at, kernel_socket, printed, random_prefix, DockerCleanup, Scratch, COOKIE,
};
use crate::lifecycle_faults::{database, HubProcess, Person};

/// The previous release's binary, built from git history by `scripts/build-previous.sh` (which
/// `scripts/test.sh` runs before the tests: a build from inside `cargo test` would wait for the
/// build directory's lock that the test run holds).
fn previous_release() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/ganymede-previous");
    assert!(bin.exists(), "{} is missing: run scripts/build-previous.sh first", bin.display());
    bin
}

/// The schema versions the hub's database has applied.
async fn migrations(dir: &Scratch) -> Vec<i64> {
    let db = database(dir).await;
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&db).await.unwrap()
}

/// Waits until the websocket ends (closed, reset or at its end), at most `limit`.
async fn ends(ws: &mut crate::helpers::KernelSocket, limit: Duration) {
    let ended = tokio::time::timeout(limit, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(message)) if message.is_close() => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the websocket stayed open");
}

#[tokio::test]
async fn an_upgrade_in_place_keeps_the_servers_and_kernels_and_a_sigterm_leaves_them_running() {
    let previous = previous_release();
    let dir = Scratch::new();
    let prefix = random_prefix("up");
    let _cleanup = DockerCleanup(prefix.clone());
    let env = [
        ("GANYMEDE_ADMIN_USER", "alice"),
        ("GANYMEDE_ADMIN_PASSWORD", "alice-password"),
        ("GANYMEDE_SPAWNER__DOCKER__PREFIX", prefix.as_str()),
    ];

    // The previous release: alice's server, a kernel with x = 42 over a websocket.
    let mut old = HubProcess::start_bin(ganymede_of(&previous, &dir), &env);
    let before = migrations(&dir).await;
    let alice = Person::sign_in(&old.base, "alice", "alice-password").await;
    assert_eq!(alice.start_and_wait().await["ready"], true);
    let container = containers(&prefix).pop().expect("the server's container");
    let started_at = inspect(&container)["State"]["StartedAt"].clone();
    let cookie = ("cookie", format!("{COOKIE}={}", alice.session));
    let (kernel, mut ws) = kernel_at(&alice.http, &old.base, "alice", cookie.clone()).await;
    assert_eq!(printed(&mut ws, "m1", "x = 6 * 7\nprint(x)").await.trim(), "42");

    // It stops on SIGTERM; the server does not.
    assert!(old.terminate(Duration::from_secs(30)).success(), "{}", old.log());
    ends(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(inspect(&container)["State"]["Running"], true);

    // This build takes over the same database: it migrates, adopts the server, and the
    // browser's websocket reconnects to the kernel, which still holds x.
    let mut new = HubProcess::start(&dir, &env);
    let after = migrations(&dir).await;
    assert!(after.len() > before.len(), "this build adds a migration: {before:?} → {after:?}");
    let alice = alice.on(&new);
    assert_eq!(alice.proxy_status().await, 200);
    assert_eq!(alice.user("alice").await["servers"][""]["ready"], true);
    assert_eq!(containers(&prefix), vec![container.clone()], "the same container");
    assert_eq!(inspect(&container)["State"]["StartedAt"], started_at, "never restarted");
    let mut ws = kernel_socket(&new.base, "alice", &kernel, cookie.clone()).await;
    assert_eq!(printed(&mut ws, "m2", "print(x + 1)").await.trim(), "43");

    // This build's SIGTERM, with the websocket open: it closes at once, the hub exits 0 within
    // its grace period, the server keeps running.
    let began = Instant::now();
    let status = new.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}: {}", new.log());
    assert!(began.elapsed() < Duration::from_secs(15), "took {:?}", began.elapsed());
    assert!(new.log().contains("stopping: finishing the requests in flight"), "{}", new.log());
    ends(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(inspect(&container)["State"]["Running"], true);

    // The next start adopts it again; the kernel still has x.
    let again = HubProcess::start(&dir, &env);
    let mut ws = kernel_socket(&again.base, "alice", &kernel, cookie).await;
    assert_eq!(printed(&mut ws, "m3", "print(x)").await.trim(), "42");
    assert_eq!(inspect(&container)["State"]["StartedAt"], started_at);
}
