//! `ganymede db copy`: a hub on SQLite moves to PostgreSQL (when `GANYMEDE_TEST_DATABASE` names a
//! server; otherwise to another SQLite file) and back, with the real binary on both sides.

use reqwest::Client;
use serde_json::{json, Value};

use crate::cli::{ganymede, run_with_stdin, serve, text};
use crate::helpers::{session_cookie, Scratch, COOKIE};

/// The database a hub on `scratch` uses (what `cli::ganymede` configures).
fn url_of(scratch: &Scratch) -> String {
    match scratch.database_url() {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", scratch.path().join("state").join("ganymede.db").display()),
    }
}

fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(http: &Client, base: &str, name: &str, password: &str) -> reqwest::Response {
    http.post(format!("{base}/hub/fn/login"))
        .form(&[("username", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn session(http: &Client, base: &str, name: &str, password: &str) -> String {
    let response = sign_in(http, base, name, password).await;
    assert_eq!(response.status(), 200, "{name} signs in at {base}");
    session_cookie(response.headers()).expect("a session cookie")
}

async fn api(
    http: &Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = http.request(method, url).header("authorization", format!("token {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// `POST /hub/api/users/{user}/tokens` with a session cookie.
async fn new_token(http: &Client, base: &str, session: &str, user: &str, body: Value) -> reqwest::Response {
    http.post(format!("{base}/hub/api/users/{user}/tokens"))
        .header("cookie", format!("{COOKIE}={session}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn copy(from: &str, to: &str, on: &Scratch) -> std::process::Output {
    ganymede(on).args(["db", "copy", "--from", from, "--to", to]).output().unwrap()
}

#[tokio::test]
async fn a_sqlite_hub_moves_to_another_database_with_its_passwords_tokens_groups_and_log() {
    let http = client();
    // The hub to move, on SQLite: an admin, a user with a password, a token, a group, a failure.
    let source = Scratch::sqlite();
    let served =
        serve(&source, &[("GANYMEDE_ADMIN_USER", "alice"), ("GANYMEDE_ADMIN_PASSWORD", "alice-password")]);
    let base = served.base.clone();
    let alice = session(&http, &base, "alice", "alice-password").await;
    let created = new_token(&http, &base, &alice, "alice", json!({ "note": "moved along" })).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let mut add = ganymede(&source);
    add.args(["user", "add", "bob", "--password-stdin"]);
    let out = run_with_stdin(add, "bob-password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let group = api(&http, reqwest::Method::POST, format!("{base}/hub/api/groups/team"), &token, None).await;
    assert_eq!(group.status(), 201);
    let members = api(
        &http,
        reqwest::Method::POST,
        format!("{base}/hub/api/groups/team/users"),
        &token,
        Some(json!({ "users": ["bob"] })),
    )
    .await;
    assert_eq!(members.status(), 200);
    assert_eq!(sign_in(&http, &base, "bob", "not-bobs-password").await.status(), 400);
    drop(served);

    // The target was opened by a hub once already (it then holds only the hub's id): accepted.
    let target = Scratch::new();
    drop(serve(&target, &[]));
    let out = copy(&url_of(&source), &url_of(&target), &target);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, text(&out.stderr));
    let direction =
        if target.database_url().is_some() { "(SQLite → PostgreSQL)" } else { "(SQLite → SQLite)" };
    assert!(stdout.contains(direction), "{stdout}");
    assert!(stdout.contains("users: 2 row(s)"), "{stdout}");
    assert!(stdout.contains("api_tokens: 1 row(s)"), "{stdout}");
    assert!(stdout.contains("group_members: 1 row(s)"), "{stdout}");
    assert!(stdout.contains("login_failures: 1 row(s)"), "{stdout}");

    // The hub on the copy: old passwords, the old token, the group, the log; new rows get new ids.
    let served = serve(&target, &[]);
    let base = served.base.clone();
    assert!(!served.lines.iter().any(|l| l.contains("There are no users yet")), "{:?}", served.lines);
    let alice = session(&http, &base, "alice", "alice-password").await;
    session(&http, &base, "bob", "bob-password").await;
    let me = api(&http, reqwest::Method::GET, format!("{base}/hub/api/user"), &token, None).await;
    assert_eq!(me.status(), 200, "the old token works");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["name"], "alice");
    assert_eq!(me["admin"], true);
    let team: Value = api(&http, reqwest::Method::GET, format!("{base}/hub/api/groups/team"), &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(team["users"], json!(["bob"]), "{team}");
    let log = http
        .post(format!("{base}/hub/fn/admin_events"))
        .header("cookie", format!("{COOKIE}={alice}"))
        .form(&[("filter", "group."), ("page", "0")])
        .send()
        .await
        .unwrap();
    let log: Value = log.json().await.unwrap();
    let actions: Vec<&str> =
        log["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"group.create"), "{log}");
    let carol = api(&http, reqwest::Method::POST, format!("{base}/hub/api/users/carol"), &token, None).await;
    assert_eq!(carol.status(), 201, "a new user gets an id after the copied ones");
    let other = api(&http, reqwest::Method::POST, format!("{base}/hub/api/groups/other"), &token, None).await;
    assert_eq!(other.status(), 201, "a new group too");
    let renewed = new_token(&http, &base, &alice, "alice", json!({})).await;
    assert_eq!(renewed.status(), 201, "and a new token");
    drop(served);

    // And back again, onto a new SQLite file: the other direction.
    let back = Scratch::sqlite();
    let out = copy(&url_of(&target), &url_of(&back), &back);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("users: 3 row(s)"), "{}", text(&out.stdout));
    let served = serve(&back, &[]);
    let me = api(&http, reqwest::Method::GET, format!("{}/hub/api/user", served.base), &token, None).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn a_target_with_rows_is_refused_and_left_as_it_was() {
    let http = client();
    let source = Scratch::sqlite();
    drop(serve(&source, &[("GANYMEDE_ADMIN_USER", "alice"), ("GANYMEDE_ADMIN_PASSWORD", "alice-password")]));
    let target = Scratch::new();
    drop(serve(&target, &[("GANYMEDE_ADMIN_USER", "bob"), ("GANYMEDE_ADMIN_PASSWORD", "bob-password")]));

    let out = copy(&url_of(&source), &url_of(&target), &target);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("is not empty: table users has 1 row(s)"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let served = serve(&target, &[]);
    session(&http, &served.base, "bob", "bob-password").await;
    assert_eq!(sign_in(&http, &served.base, "alice", "alice-password").await.status(), 400);
    drop(served);

    // Nor are a missing source, or the same database twice.
    let missing = format!("sqlite://{}", source.path().join("nowhere.db").display());
    let out = copy(&missing, &url_of(&target), &target);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot open the source database"), "{}", text(&out.stderr));
    assert!(!source.path().join("nowhere.db").exists(), "a missing source is not created");
    let out = copy(&url_of(&target), &url_of(&target), &target);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the same database"), "{}", text(&out.stderr));
}

/// `ganymede db backup FILE` while the hub serves, then the README's restore: stop, copy the
/// file over the database, start. The restored hub has exactly what the backup held.
#[tokio::test]
async fn a_backup_taken_while_the_hub_serves_restores_with_its_users_tokens_and_sessions() {
    let http = client();
    let dir = Scratch::sqlite();
    let served =
        serve(&dir, &[("GANYMEDE_ADMIN_USER", "alice"), ("GANYMEDE_ADMIN_PASSWORD", "alice-password")]);
    let base = served.base.clone();
    let alice = session(&http, &base, "alice", "alice-password").await;
    let created: Value =
        new_token(&http, &base, &alice, "alice", json!({ "note": "kept" })).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();

    // Online: the hub keeps serving (and writing) while the copy is taken.
    let file = dir.path().join("backup.db");
    let out = ganymede(&dir).args(["db", "backup"]).arg(&file).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("1 user(s)") && stdout.contains("integrity check ok"), "{stdout}");
    // A second backup to the same file is refused and leaves it as it was.
    let size = std::fs::metadata(&file).unwrap().len();
    let again = ganymede(&dir).args(["db", "backup"]).arg(&file).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"), "{}", text(&again.stderr));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);

    // After the backup: a user the restore must not bring back.
    let carol = api(&http, reqwest::Method::POST, format!("{base}/hub/api/users/carol"), &token, None).await;
    assert_eq!(carol.status(), 201);
    drop(served);

    // The restore: the hub stopped, the file copied over the database, its journal files gone.
    let db = dir.path().join("state").join("ganymede.db");
    for extra in ["ganymede.db-wal", "ganymede.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join("state").join(extra));
    }
    std::fs::copy(&file, &db).unwrap();
    let served = serve(&dir, &[]);
    let base = served.base.clone();
    let me = api(&http, reqwest::Method::GET, format!("{base}/hub/api/user"), &token, None).await;
    assert_eq!(me.status(), 200, "the token from before the backup works");
    let by_session = http
        .get(format!("{base}/hub/api/user"))
        .header("cookie", format!("{COOKIE}={alice}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_session.status(), 200, "and the session");
    let carol = api(&http, reqwest::Method::GET, format!("{base}/hub/api/users/carol"), &token, None).await;
    assert_eq!(carol.status(), 404, "what came after the backup is not in it");
    session(&http, &base, "alice", "alice-password").await;
}

#[test]
fn a_postgresql_backup_is_pointed_at_pg_dump() {
    let dir = Scratch::sqlite();
    let out = ganymede(&dir)
        .args(["db", "backup", "dump.db"])
        .env("GANYMEDE_DATABASE__URL", "postgres://ganymede:secret@db.invalid:5432/ganymede")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("pg_dump --format=custom --file=dump.db"), "{err}");
    assert!(!err.contains("secret"), "the password is not printed: {err}");
    assert!(!dir.path().join("dump.db").exists());
}
