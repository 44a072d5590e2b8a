//! What counts as a server's activity, with the real engine and a real JupyterLab: a kernel that
//! works with the browser closed keeps moving the server's `last_activity` (the hub asks Jupyter
//! about its kernels); an open but idle tab (a kernel websocket left open, pages polled) does not.

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{execute, kernel, TestApp};

async fn last_activity(app: &TestApp) -> i64 {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT last_activity FROM servers").fetch_one(app.hub.db()).await.unwrap();
    at.unwrap_or(0)
}

#[tokio::test]
async fn a_kernel_at_work_with_the_browser_closed_is_activity_and_an_idle_open_tab_is_not() {
    let app = TestApp::spawn_with(|c| c.servers.activity_poll_seconds = 1).await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    assert_eq!(app.start_and_wait(&session, "base", "small", "").await["ready"], true);

    // A job of 12 s that prints every second; the browser goes away as soon as it is sent.
    let mut ws = kernel(&app, &session).await;
    ws.send(execute(
        "job",
        "import time\nfor i in range(12):\n    print(i, flush=True)\n    time.sleep(1)\n",
    ))
    .await
    .unwrap();
    drop(ws);
    app.hub.activity().flush(&app.hub).await.unwrap();
    let closed = last_activity(&app).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let working = last_activity(&app).await;
    assert!(working >= closed + 3000, "the working kernel did not move last_activity: {closed} → {working}");

    // Once it is done, an open tab (a kernel websocket left open, the pages polled) moves nothing.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let mut tab = kernel(&app, &session).await;
    // The new kernel's start (a POST) and first messages are activity; then it idles.
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.hub.activity().flush(&app.hub).await.unwrap();
    let idle_since = last_activity(&app).await;
    for _ in 0..8 {
        assert_eq!(app.get("/user/alice/api/kernels", Some(&session)).await.status(), 200);
        assert_eq!(app.get("/user/alice/api/contents", Some(&session)).await.status(), 200);
        tab.send(Message::Ping(vec![1].into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
    app.hub.activity().flush(&app.hub).await.unwrap();
    assert_eq!(last_activity(&app).await, idle_since, "an idle open tab moved last_activity");
}
