//! The `ganymede` binary itself, run as a process.

use std::io::{BufRead, BufReader, Write};

use crate::helpers::Scratch;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ganymede");

/// A command with a clean environment apart from the data directory (and the scratch's database).
pub fn ganymede(data: &Scratch) -> Command {
    ganymede_of(std::path::Path::new(BIN), data)
}

/// [`ganymede`] with another build of the binary (the previous release, in the upgrade test).
pub fn ganymede_of(bin: &std::path::Path, data: &Scratch) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(data.path())
        .env_remove("GANYMEDE_CONFIG")
        .env_remove("GANYMEDE_ADMIN_USER")
        .env_remove("GANYMEDE_ADMIN_PASSWORD")
        .env("GANYMEDE_HUB__DATA_DIR", data.path().join("state"))
        .env("RUST_LOG", "warn");
    match data.database_url() {
        Some(url) => cmd.env("GANYMEDE_DATABASE__URL", url),
        None => cmd.env_remove("GANYMEDE_DATABASE__URL"),
    };
    cmd
}

pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_is_printed() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), format!("ganymede {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn config_check_names_the_bad_key_and_fails_without_panicking() {
    let dir = Scratch::new();
    std::fs::write(dir.path().join("ganymede.toml"), "[session]\nmax_age_seconds = \"soon\"\n").unwrap();
    let out = ganymede(&dir).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("max_age_seconds"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = ganymede(&dir).arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("max_age_seconds"));
}

#[test]
fn config_check_reports_invalid_values_and_env_overrides() {
    let dir = Scratch::new();
    let out = ganymede(&dir)
        .args(["config", "check"])
        .env("GANYMEDE_AUTH__LOCAL__MIN_PASSWORD_LENGTH", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("auth.local.min_password_length"));

    let out = ganymede(&dir)
        .args(["config", "check"])
        .env("GANYMEDE_HUB__BIND", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("bind = \"127.0.0.1:9999\""));
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = Scratch::new();
    let out = ganymede(&dir).args(["--config", "nope.toml", "config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.toml does not exist"));
}

#[test]
fn users_are_managed_from_the_command_line() {
    let dir = Scratch::new();
    let mut add = ganymede(&dir);
    add.args(["user", "add", "Alice", "--admin", "--password-stdin"]);
    let out = run_with_stdin(add, "alice-password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = ganymede(&dir).args(["user", "list"]).output().unwrap();
    assert_eq!(text(&out.stdout), "alice\tadmin\n");

    let out = ganymede(&dir).args(["user", "set-admin", "alice", "--revoke"]).output().unwrap();
    assert!(out.status.success());
    let out = ganymede(&dir).args(["user", "list"]).output().unwrap();
    assert_eq!(text(&out.stdout), "alice\t\n");

    let mut set = ganymede(&dir);
    set.args(["user", "set-password", "alice"]);
    let out = run_with_stdin(set, "short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at least 8 characters"));

    let out = ganymede(&dir).args(["user", "remove", "alice"]).output().unwrap();
    assert!(out.status.success());
    let out = ganymede(&dir).args(["user", "remove", "alice"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("there is no user named alice"));

    let out = ganymede(&dir).args(["db", "migrate"]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn invalid_names_and_weak_passwords_are_refused_by_the_cli() {
    let dir = Scratch::new();
    let mut add = ganymede(&dir);
    add.args(["user", "add", "bad name", "--password-stdin"]);
    let out = run_with_stdin(add, "a-fine-password\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("may contain only"), "{}", text(&out.stderr));

    let mut add = ganymede(&dir);
    add.args(["user", "add", "carol", "--password-stdin"]);
    let out = run_with_stdin(add, "carol\n");
    assert_eq!(out.status.code(), Some(1));

    let out = ganymede(&dir).args(["user", "add", "carol"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--password-stdin"));
}

/// A running `ganymede serve`; killed when dropped.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    pub lines: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ganymede serve` on a random port and waits for its "listening" line.
pub fn serve(dir: &Scratch, extra_env: &[(&str, &str)]) -> Served {
    let mut cmd = ganymede(dir);
    cmd.arg("serve").env("GANYMEDE_HUB__BIND", "127.0.0.1:0").env("RUST_LOG", "info").env("NO_COLOR", "1");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut served = Served { child, base: String::new(), lines: Vec::new() };
    let stdout = BufReader::new(served.child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in stdout.lines() {
        let line = line.unwrap();
        served.lines.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            served.base = format!("http://{}", rest.split_whitespace().next().unwrap());
            return served;
        }
        assert!(Instant::now() < deadline, "hub did not start: {:?}", served.lines);
    }
    panic!("hub exited: {:?}", served.lines);
}

#[tokio::test]
async fn serve_creates_the_bootstrap_admin_who_can_sign_in() {
    let dir = Scratch::new();
    let served =
        serve(&dir, &[("GANYMEDE_ADMIN_USER", "root"), ("GANYMEDE_ADMIN_PASSWORD", "root-password")]);
    let (base, lines) = (&served.base, &served.lines);
    assert!(lines.iter().any(|l| l.contains("created the administrator root")), "{lines:?}");
    let http = crate::helpers::client_builder().build().unwrap();
    let health = http.get(format!("{base}/hub/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login = http
        .post(format!("{base}/hub/fn/login"))
        .form(&[("username", "root"), ("password", "root-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(crate::helpers::session_cookie(login.headers()).is_some());
    drop(served);

    // A restart keeps the user, and does not create it twice.
    let served =
        serve(&dir, &[("GANYMEDE_ADMIN_USER", "root"), ("GANYMEDE_ADMIN_PASSWORD", "root-password")]);
    assert!(!served.lines.iter().any(|l| l.contains("created the administrator")), "{:?}", served.lines);
}

#[test]
fn serve_on_an_empty_database_explains_how_to_make_the_first_admin() {
    let dir = Scratch::new();
    let served = serve(&dir, &[]);
    let all = served.lines.join("\n");
    assert!(all.contains("There are no users yet"), "{all}");
    assert!(all.contains("ganymede user add admin --admin --password-stdin"), "{all}");
}

/// A hub whose egress policy it cannot enforce (no `iptables` to change the packet filter with)
/// stops before it serves and says what to do; with `egress = "open"` the same hub starts.
#[tokio::test]
async fn serve_refuses_an_egress_policy_it_cannot_enforce() {
    let dir = Scratch::new();
    let empty = tempfile::tempdir().unwrap();
    let out = ganymede(&dir)
        .arg("serve")
        .env("GANYMEDE_HUB__BIND", "127.0.0.1:0")
        .env("PATH", empty.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the hub started without a way to enforce its egress policy");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("running iptables failed"), "{said}");
    assert!(said.contains("spawner.docker.egress = \"open\""), "{said}");
    let served = serve(
        &dir,
        &[("PATH", &empty.path().display().to_string()), ("GANYMEDE_SPAWNER__DOCKER__EGRESS", "open")],
    );
    assert!(!served.base.is_empty());
}

#[test]
fn a_key_the_previous_release_used_still_works_with_a_warning_naming_the_new_one() {
    let dir = Scratch::new();
    std::fs::write(dir.path().join("ganymede.toml"), "[spawner]\nnamed_servers_limit = 5\n").unwrap();
    let out =
        ganymede(&dir).args(["config", "check"]).env("GANYMEDE_SPAWNER__PREFIX", "old-hub").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("deprecated keys in use (2)"), "{stdout}");
    assert!(stdout.contains("`spawner.prefix` (GANYMEDE_SPAWNER__PREFIX)"), "{stdout}");
    assert!(stdout.contains("GANYMEDE_SPAWNER__DOCKER__PREFIX"), "{stdout}");
    assert!(
        stdout.contains(
            "`spawner.named_servers_limit` (ganymede.toml) is deprecated: use `servers.named_servers_limit`"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("prefix = \"old-hub\""), "{stdout}");
    assert!(stdout.contains("named_servers_limit = 5"), "{stdout}");

    // The hub itself starts with them, warning in its log, and serves.
    std::fs::remove_file(dir.path().join("ganymede.toml")).unwrap();
    let served = serve(&dir, &[("GANYMEDE_SPAWNER__PREFIX", "old-hub")]);
    let all = served.lines.join("\n");
    assert!(all.contains("WARN") && all.contains("use `spawner.docker.prefix`"), "{all}");
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let dir = Scratch::new();
    std::fs::write(dir.path().join("ganymede.toml"), "[log]\nformat = \"json\"\n").unwrap();
    let mut cmd = ganymede(&dir);
    cmd.arg("serve")
        .env("GANYMEDE_HUB__BIND", "127.0.0.1:0")
        .env("GANYMEDE_ADMIN_USER", "root")
        .env("GANYMEDE_ADMIN_PASSWORD", "root-password")
        .env("RUST_LOG", "info");
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    // Killed however the test ends (a line that is not JSON panics below).
    let mut served = Served { child, base: String::new(), lines: Vec::new() };
    let stdout = BufReader::new(served.child.stdout.take().unwrap());
    let mut objects = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let listening = object["message"].as_str().is_some_and(|m| m.contains("listening on http://"));
        objects.push(object);
        if listening || objects.len() > 200 {
            break;
        }
    }
    drop(served);
    let last = objects.last().expect("some log lines");
    assert!(last["message"].as_str().unwrap_or_default().contains("listening on"), "{objects:?}");
    assert_eq!(last["level"], "INFO");
    assert!(last["timestamp"].is_string());
    assert!(
        objects
            .iter()
            .any(|o| o["message"].as_str().unwrap_or_default().contains("created the administrator root")),
        "{objects:?}"
    );
}
