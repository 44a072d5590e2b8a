//! The local spawner with a real JupyterLab from `.tools/jupyter-venv` (made by `scripts/setup.sh
//! test`): started through the dashboard, reached through the proxy (HTTP and a kernel's
//! websocket), adopted by a restarted hub, stopped with its whole process group, and noticed when
//! killed behind the hub's back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hub::config::SpawnerChoice;

use crate::helpers::TestApp;

fn venv() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/jupyter-venv");
    assert!(
        venv.join("bin/jupyter-lab").is_file(),
        "{} has no JupyterLab: run `scripts/setup.sh test` (it builds the venv the local spawner's tests use)",
        venv.display()
    );
    std::path::absolute(&venv).expect("absolute venv path")
}

async fn local_app() -> (TestApp, String) {
    let venv = venv().display().to_string();
    let app = TestApp::spawn_with(|c| {
        c.spawner.kind = SpawnerChoice::Local;
        for flavour in &mut c.flavours {
            flavour.environment = Some(venv.clone());
        }
    })
    .await;
    app.add_user("alice", "alice-password", false).await;
    let session = app.session("alice", "alice-password").await;
    (app, session)
}

fn state_dir(app: &TestApp) -> PathBuf {
    app.hub.config().hub.data_dir.join("local-servers/alice/_default")
}

fn pid_of(app: &TestApp) -> i32 {
    let text = std::fs::read_to_string(state_dir(app).join("server.pid")).expect("pid file");
    text.split_whitespace().next().and_then(|p| p.parse().ok()).expect("pid")
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn status_through_proxy(app: &TestApp, session: &str) -> u16 {
    app.get("/user/alice/api/status", Some(session)).await.status().as_u16()
}

/// Starts a kernel through the proxy and runs `print(6 * 7)` over its websocket.
async fn run_code(app: &TestApp, session: &str) {
    let mut ws =
        crate::helpers::kernel(app, "alice", ("cookie", format!("{}={session}", crate::helpers::COOKIE)))
            .await;
    assert_eq!(crate::helpers::printed(&mut ws, "m1", "print(6 * 7)").await.trim(), "42");
}

#[tokio::test]
async fn a_local_jupyterlab_runs_code_is_adopted_after_a_restart_and_stops_with_its_process_group() {
    let (app, session) = local_app().await;
    let done = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(done["ready"], true, "{done}");
    assert_eq!(status_through_proxy(&app, &session).await, 200);
    let pid = pid_of(&app);
    assert!(group_alive(pid));
    let labels: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir(&app).join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels["user"], "alice");
    assert_eq!(labels["hub"], app.hub.hub_id());
    run_code(&app, &session).await;

    // A restarted hub adopts the running process: same pid, route back, proxy answers.
    let app = app.restart().await;
    assert!(app.hub.routes().get("alice", "").is_some(), "the route is restored");
    assert_eq!(pid_of(&app), pid);
    assert_eq!(status_through_proxy(&app, &session).await, 200);

    let stop = app.server_fn("stop_server", &[("name", "")], Some(&session)).await;
    assert_eq!(stop.status(), 200, "{}", stop.text().await.unwrap_or_default());
    wait_until("the process group is gone", || !group_alive(pid)).await;
    assert!(!state_dir(&app).exists(), "the state directory is removed");
    assert!(app.hub.config().hub.data_dir.join("homes/alice").is_dir(), "the home stays");
}

#[tokio::test]
async fn a_local_server_killed_behind_the_hubs_back_is_marked_stopped() {
    let (app, session) = local_app().await;
    let last = app.start_and_wait(&session, "base", "small", "").await;
    assert_eq!(last["ready"], true, "{last}");
    let pid = pid_of(&app);
    let killed =
        std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status().unwrap();
    assert!(killed.success());
    wait_until("the process is gone", || {
        !Path::new(&format!("/proc/{pid}/stat")).exists() || !group_alive(pid)
    })
    .await;

    hub::servers::reconcile(&app.hub).await.unwrap();
    let servers: serde_json::Value =
        app.server_fn("my_servers", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(servers[0]["status"], "stopped", "{servers}");
    assert!(app.hub.routes().get("alice", "").is_none());
    assert!(!state_dir(&app).exists(), "nothing is left behind");
}
