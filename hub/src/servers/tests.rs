//! Unit tests of every transition with the in-memory spawner, on real SQLite (or the PostgreSQL
//! server `GANYMEDE_TEST_DATABASE` names): starts that succeed, fail, hang or exit; stops that
//! fail and are retried; limits under concurrency; reconcile after a dead process; orphans; bad
//! rows.

use std::sync::Arc;
use std::time::Duration;

use super::reconcile::RECONCILE_LEASE;
use super::*;
use crate::accounts::{self, NewAccount};
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::spawner::memory::{Fake, MemorySpawner, Script};
use crate::spawner::{SpawnerKind, Spawners};

struct Fixture {
    hub: Hub,
    mem: Arc<MemorySpawner>,
    clock: ManualClock,
    alice: User,
    _dir: tempfile::TempDir,
    _db: Option<crate::db::testing::ScratchDatabase>,
}

async fn fixture(change: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = crate::db::testing::ScratchDatabase::from_env();
    let mut config = Config::default();
    config.hub.data_dir = dir.path().to_owned();
    config.database.url = db.as_ref().map(|d| d.url().to_owned());
    config.servers.start_timeout_seconds = 5;
    config.servers.http_timeout_seconds = 5;
    change(&mut config);
    let mem = MemorySpawner::new().await;
    let clock = ManualClock::at(crate::db::now_ms());
    let spawners = {
        let mem: Arc<dyn crate::spawner::Spawner> = mem.clone();
        move |_: &Config, _: &str| Spawners::new(SpawnerKind::Memory, vec![mem])
    };
    let hub = Hub::open_with(config, Arc::new(clock.clone()), spawners).await.expect("hub opens");
    let name = UserName::parse("alice").expect("name");
    let alice = accounts::create_user(
        &hub,
        None,
        NewAccount { name: &name, password: None, is_admin: false, approved: true },
    )
    .await
    .expect("user");
    Fixture { hub, mem, clock, alice, _dir: dir, _db: db }
}

fn default() -> ServerName {
    ServerName::default_server()
}

fn named(n: &str) -> ServerName {
    ServerName::parse(n).expect("server name")
}

impl Fixture {
    async fn start(&self, server: &ServerName) -> Result<StartOutcome, ServerError> {
        start(&self.hub, Some("alice"), &self.alice, server, Requested::both("base", "small")).await
    }

    async fn info(&self, server: &ServerName) -> ServerInfo {
        get(&self.hub, &self.alice, server).await.expect("reads").expect("exists")
    }

    /// Waits until the server leaves `pending`.
    async fn settled(&self, server: &ServerName) -> ServerInfo {
        for _ in 0..200 {
            let info = self.info(server).await;
            if info.state != ServerState::Pending {
                return info;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server stayed pending");
    }

    async fn actions(&self) -> Vec<String> {
        let rows = crate::db::events::recent(self.hub.db(), 100).await.expect("events");
        rows.into_iter().rev().map(|e| e.action).filter(|a| a.starts_with("server.")).collect()
    }
}

#[tokio::test]
async fn a_start_claims_the_row_then_becomes_running_with_a_route_and_audit_rows() {
    let f = fixture(|_| {}).await;
    // Slow enough that the claimed row is seen pending before the start finishes.
    f.mem.script(Script { start_delay: Duration::from_millis(500), ..Script::default() });
    assert_eq!(f.start(&default()).await.expect("starts"), StartOutcome::Started);
    assert_eq!(f.info(&default()).await.state, ServerState::Pending);
    let info = f.settled(&default()).await;
    assert_eq!(info.state, ServerState::Running);
    assert_eq!(info.last_error, None);
    assert!(f.hub.routes().get("alice", "").is_some(), "routed");
    assert_eq!(f.actions().await, ["server.start", "server.ready"]);
    assert_eq!(f.start(&default()).await.expect("asks again"), StartOutcome::AlreadyRunning);
}

#[tokio::test]
async fn a_failed_start_removes_its_workload_and_says_why() {
    let f = fixture(|_| {}).await;
    f.mem.script(Script { start_fails: Some(SpawnError::ImageMissing("x".into())), ..Script::default() });
    f.start(&default()).await.expect("claims");
    let info = f.settled(&default()).await;
    assert_eq!(info.state, ServerState::Stopped);
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("image x")), "{info:?}");
    assert!(f.mem.existing().is_empty(), "nothing left: {:?}", f.mem.existing());
    assert_eq!(f.actions().await, ["server.start", "server.start_failed"]);
    // The slot is free again.
    f.mem.script(Script::default());
    f.start(&default()).await.expect("starts");
    assert_eq!(f.settled(&default()).await.state, ServerState::Running);
}

#[tokio::test]
async fn a_workload_that_exits_at_once_fails_the_start() {
    let f = fixture(|_| {}).await;
    f.mem.script(Script { exits_after_start: true, ..Script::default() });
    f.start(&default()).await.expect("claims");
    let info = f.settled(&default()).await;
    assert_eq!(info.state, ServerState::Stopped);
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("exit code 1")), "{info:?}");
    assert!(f.mem.existing().is_empty());
}

#[tokio::test]
async fn a_start_that_hangs_times_out_and_leaves_nothing() {
    let f = fixture(|c| c.servers.start_timeout_seconds = 1).await;
    f.mem.script(Script { start_hangs: true, ..Script::default() });
    f.start(&default()).await.expect("claims");
    let info = f.settled(&default()).await;
    assert_eq!(info.state, ServerState::Stopped);
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("within 1 seconds")), "{info:?}");
    assert!(f.mem.existing().is_empty(), "the planned workload was removed");
}

#[tokio::test]
async fn a_refused_stop_stays_stopping_with_the_error_and_is_retried_when_due() {
    let f = fixture(|c| c.servers.stop_retry_seconds = 30).await;
    f.start(&default()).await.expect("starts");
    f.settled(&default()).await;
    f.mem.script(Script { stop_fails: Some(SpawnError::Engine("device busy".into())), ..Script::default() });
    let err = stop(&f.hub, Some("alice"), &f.alice, &default()).await.expect_err("the stop fails");
    assert!(matches!(err, ServerError::StopFailed(_)), "{err:?}");
    let info = f.info(&default()).await;
    assert_eq!(info.state, ServerState::Stopping, "never stopped while the workload runs");
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("device busy")));
    assert_eq!(f.mem.existing(), ["alice/"]);
    assert!(f.hub.routes().get("alice", "").is_none(), "no traffic to a server being stopped");

    // Not due yet: reconcile leaves it.
    f.mem.script(Script::default());
    reconcile(&f.hub).await.expect("reconciles");
    assert_eq!(f.info(&default()).await.state, ServerState::Stopping);
    // Due: retried, and it goes.
    f.clock.advance(Duration::from_secs(31));
    let done = reconcile(&f.hub).await.expect("reconciles");
    assert!(done.ran && done.settled == 1, "{done:?}");
    let info = f.info(&default()).await;
    assert_eq!((info.state, info.last_error), (ServerState::Stopped, None));
    assert!(f.mem.existing().is_empty());
    assert_eq!(
        f.actions().await,
        ["server.start", "server.ready", "server.stop", "server.stop_failed", "server.stopped"]
    );
}

#[tokio::test]
async fn stopping_again_by_hand_retries_a_refused_stop() {
    let f = fixture(|_| {}).await;
    f.start(&default()).await.expect("starts");
    f.settled(&default()).await;
    f.mem.script(Script {
        stop_fails: Some(SpawnError::EngineUnavailable("down".into())),
        ..Script::default()
    });
    stop(&f.hub, None, &f.alice, &default()).await.expect_err("fails");
    f.mem.script(Script::default());
    stop(&f.hub, None, &f.alice, &default()).await.expect("the second try works");
    assert_eq!(f.info(&default()).await.state, ServerState::Stopped);
}

#[tokio::test]
async fn twenty_concurrent_starts_of_one_server_make_one_workload() {
    let f = fixture(|_| {}).await;
    let f = Arc::new(f);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { f.start(&default()).await }));
    }
    let mut started = 0;
    for t in tasks {
        match t.await.expect("joins").expect("no error") {
            StartOutcome::Started => started += 1,
            StartOutcome::AlreadyPending | StartOutcome::AlreadyRunning => {}
            StartOutcome::Queued => panic!("a CPU size never queues"),
        }
    }
    assert_eq!(started, 1);
    assert_eq!(f.settled(&default()).await.state, ServerState::Running);
    assert_eq!(f.mem.calls().0, 1, "one spawner start");
}

#[tokio::test]
async fn the_active_limit_holds_under_concurrent_starts() {
    let f = Arc::new(fixture(|c| c.servers.active_server_limit = 2).await);
    let mut tasks = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { f.start(&named(name)).await }));
    }
    let (mut started, mut refused) = (0, 0);
    for t in tasks {
        match t.await.expect("joins") {
            Ok(StartOutcome::Started) => started += 1,
            Err(ServerError::TooManyActive { .. }) => refused += 1,
            Err(ServerError::TooManyNamed(_)) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 2, "exactly the limit");
    assert_eq!(refused, 3);
}

#[tokio::test]
async fn the_named_server_limit_holds_under_concurrent_starts() {
    let f = Arc::new(fixture(|c| c.servers.named_servers_limit = 2).await);
    let mut tasks = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { f.start(&named(name)).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("joins") {
            Ok(_) => ok += 1,
            Err(ServerError::TooManyNamed(2)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 2);
    assert_eq!(list(&f.hub, &f.alice).await.expect("lists").len(), 2);
}

/// Makes the row look like the start of a process that died (a worker id on this host whose
/// pid does not exist).
async fn orphan_the_start(f: &Fixture, server: &ServerName) {
    sqlx::query("UPDATE servers SET worker = $1 WHERE name = $2")
        .bind(format!(
            "{}/999999999/dead",
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim()
        ))
        .bind(server.as_str())
        .execute(f.hub.db())
        .await
        .expect("updates");
}

#[tokio::test]
async fn reconcile_adopts_a_start_whose_process_died_after_the_workload_came_up() {
    let f = fixture(|c| c.servers.start_timeout_seconds = 2).await;
    f.mem.script(Script { start_hangs: true, ..Script::default() });
    f.start(&default()).await.expect("claims");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The start's process "dies": its row names a dead worker, and this process forgets it.
    orphan_the_start(&f, &default()).await;
    let row = crate::db::servers::get(f.hub.db(), f.alice.id, &default()).await.expect("reads").expect("row");
    drop(f.hub.in_flight().hold(row.id));
    let done = reconcile(&f.hub).await.expect("reconciles");
    assert_eq!(done.settled, 1, "{done:?}");
    assert_eq!(f.info(&default()).await.state, ServerState::Running, "up and answering: adopted");
    assert!(f.hub.routes().get("alice", "").is_some());
}

#[tokio::test]
async fn reconcile_stops_a_dead_processs_start_whose_workload_is_not_up() {
    let f = fixture(|_| {}).await;
    f.mem.script(Script { start_hangs: true, ..Script::default() });
    f.start(&named("x")).await.expect("claims");
    tokio::time::sleep(Duration::from_millis(100)).await;
    orphan_the_start(&f, &named("x")).await;
    let row =
        crate::db::servers::get(f.hub.db(), f.alice.id, &named("x")).await.expect("reads").expect("row");
    drop(f.hub.in_flight().hold(row.id));
    f.mem.set("alice", "x", Some(Fake::Exited(137)));
    let done = reconcile(&f.hub).await.expect("reconciles");
    assert_eq!(done.settled, 1);
    let info = f.info(&named("x")).await;
    assert_eq!(info.state, ServerState::Stopped);
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("hub stopped")), "{info:?}");
    assert!(f.mem.existing().is_empty());
    assert!(f.actions().await.contains(&"server.interrupted".to_owned()));
}

#[tokio::test]
async fn a_start_of_a_live_process_is_left_alone_by_reconcile() {
    let f = fixture(|_| {}).await;
    f.mem.script(Script { start_hangs: true, ..Script::default() });
    f.start(&default()).await.expect("claims");
    tokio::time::sleep(Duration::from_millis(100)).await;
    reconcile(&f.hub).await.expect("reconciles");
    assert_eq!(f.info(&default()).await.state, ServerState::Pending, "its own start is in flight");
}

#[tokio::test]
async fn a_running_server_whose_workload_vanished_is_marked_stopped_with_the_reason() {
    let f = fixture(|_| {}).await;
    f.start(&default()).await.expect("starts");
    f.settled(&default()).await;
    f.mem.set("alice", "", None);
    poll_running(&f.hub).await.expect("polls");
    let info = f.info(&default()).await;
    assert_eq!(info.state, ServerState::Stopped);
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("disappeared")), "{info:?}");
    assert!(f.hub.routes().get("alice", "").is_none());
    assert!(f.actions().await.ends_with(&["server.died".to_owned()]));
}

#[tokio::test]
async fn orphans_are_swept_and_owned_workloads_kept() {
    let f = fixture(|_| {}).await;
    f.start(&default()).await.expect("starts");
    f.settled(&default()).await;
    f.mem.set("alice", "ghost", Some(Fake::Running));
    f.mem.set("nobody", "", Some(Fake::Exited(0)));
    assert_eq!(sweep_orphans(&f.hub).await.expect("sweeps"), 2);
    assert_eq!(f.mem.existing(), ["alice/"]);
}

#[tokio::test]
async fn live_usage_costs_the_engine_the_same_whatever_the_number_of_viewers() {
    let f = fixture(|_| {}).await;
    for name in ["a", "b", "c"] {
        f.start(&named(name)).await.expect("starts");
        f.settled(&named(name)).await;
    }
    // Nobody looks: rounds read nothing.
    assert_eq!(live_usage::sample(&f.hub).await.expect("samples"), 0);
    assert_eq!(f.mem.usage_calls(), 0);
    // Twenty open dashboards polling, three rounds: three readings per server, not sixty.
    for round in 1..=3 {
        let views = (0..20).map(|_| usage(&f.hub, &f.alice));
        for seen in futures_util::future::join_all(views).await {
            assert_eq!(seen.expect("reads").len(), 3);
        }
        assert_eq!(live_usage::sample(&f.hub).await.expect("samples"), 3);
        assert_eq!(f.mem.usage_calls(), 3 * round, "round {round}");
    }
    let seen = usage(&f.hub, &f.alice).await.expect("reads");
    assert!(seen.iter().all(|s| s.usage.is_some_and(|u| u.cpu_percent == 12.5)), "{seen:?}");
    assert_eq!(f.mem.usage_calls(), 9, "reading the dashboard asked the engine nothing");
}

#[tokio::test]
async fn a_start_that_commits_while_the_sweep_lists_is_not_swept() {
    let f = fixture(|_| {}).await;
    // The listing takes a while; a start commits its row and creates its workload meanwhile.
    f.mem.script(Script { list_delay: Duration::from_millis(400), ..Script::default() });
    let sweep = tokio::spawn({
        let hub = f.hub.clone();
        async move { sweep_orphans(&hub).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    f.start(&default()).await.expect("starts");
    f.settled(&default()).await;
    assert_eq!(f.mem.existing(), ["alice/"], "the workload exists before the listing looks");
    assert_eq!(sweep.await.expect("joins").expect("sweeps"), 0, "nothing was an orphan");
    assert_eq!(f.mem.existing(), ["alice/"]);
    assert_eq!(f.info(&default()).await.state, ServerState::Running);
}

#[tokio::test]
async fn a_bad_stored_row_is_an_error_naming_it_and_touches_nothing_else() {
    let f = fixture(|_| {}).await;
    f.start(&named("good")).await.expect("starts");
    f.settled(&named("good")).await;
    f.start(&named("bad")).await.expect("starts");
    f.settled(&named("bad")).await;
    sqlx::query("UPDATE servers SET spawner_state = 'not json' WHERE name = 'bad'")
        .execute(f.hub.db())
        .await
        .expect("corrupts");
    let err = get(&f.hub, &f.alice, &named("bad")).await.expect_err("the bad row is an error");
    let ServerError::BadRow(bad) = &err else { panic!("{err:?}") };
    assert_eq!((bad.name.as_str(), bad.field), ("bad", "spawner state"));
    assert!(err.to_string().contains("server row") && err.to_string().contains("\"bad\""), "{err}");
    // The sweeps skip it and keep its workload; the good server is untouched.
    reconcile(&f.hub).await.expect("reconciles");
    assert_eq!(f.mem.existing(), ["alice/bad", "alice/good"]);
    assert_eq!(f.info(&named("good")).await.state, ServerState::Running);
    // An unknown state is named too.
    sqlx::query("UPDATE servers SET status = 'sleeping' WHERE name = 'good'")
        .execute(f.hub.db())
        .await
        .expect("corrupts");
    let err = get(&f.hub, &f.alice, &named("good")).await.expect_err("unknown state");
    assert!(err.to_string().contains("\"sleeping\" is not a server state"), "{err}");
    // A row whose state does not parse still owns its workload.
    assert_eq!(sweep_orphans(&f.hub).await.expect("sweeps"), 0);
    assert_eq!(f.mem.existing(), ["alice/bad", "alice/good"]);
}

#[tokio::test]
async fn the_reconcile_lease_lets_one_process_in_and_passes_on_when_it_expires() {
    let f = fixture(|_| {}).await;
    let mut conn = f.hub.db().acquire().await.expect("conn");
    let now = f.hub.clock().now_ms();
    assert!(leases::acquire(&mut conn, RECONCILE_LEASE, "other/1/x", now, 90_000).await.expect("takes"));
    drop(conn);
    assert!(!reconcile(&f.hub).await.expect("asks").ran, "another live holder has it");
    f.clock.advance(Duration::from_secs(91));
    assert!(reconcile(&f.hub).await.expect("asks").ran, "expired: this process takes it");
}

#[tokio::test]
async fn a_start_that_names_nothing_uses_the_servers_remembered_choice_else_the_default() {
    let f = fixture(|_| {}).await;
    let (alice, hub) = (&f.alice, &f.hub);
    // Never started: the hub's default choice.
    start(hub, Some("alice"), alice, &default(), Requested::default()).await.expect("starts");
    let info = f.settled(&default()).await;
    let first = crate::catalogue::default_choice(hub.config(), &hub.gpus().snapshot()).expect("a default");
    assert_eq!((info.flavour.clone(), info.size.clone()), (Some(first.0), Some(first.1)));
    // Created with a choice (REST PUT), then started naming nothing: that choice.
    let lab = named("analysis");
    assert!(create(hub, Some("alice"), alice, &lab, "scipy", "medium").await.expect("creates"));
    start(hub, Some("alice"), alice, &lab, Requested::default()).await.expect("starts");
    let info = f.settled(&lab).await;
    assert_eq!((info.flavour.as_deref(), info.size.as_deref()), (Some("scipy"), Some("medium")));
    // A size alone keeps the remembered flavour.
    stop(hub, Some("alice"), alice, &lab).await.expect("stops");
    let small = Requested { flavour: None, size: Some("small".into()) };
    start(hub, Some("alice"), alice, &lab, small).await.expect("starts");
    let info = f.settled(&lab).await;
    assert_eq!((info.flavour.as_deref(), info.size.as_deref()), (Some("scipy"), Some("small")));
}

fn gpus(n: usize) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.servers.gpu_discovery = crate::config::GpuDiscovery::Static;
        c.gpus = (0..n)
            .map(|i| crate::config::StaticGpu {
                uuid: format!("GPU-unit-{i}"),
                model: "Test GPU".into(),
                memory_mib: 1024,
                mig_profile: None,
            })
            .collect();
        c.sizes.push(crate::config::SizeConfig {
            id: "gpu-test".into(),
            display_name: "1 GPU".into(),
            cpu: 0.5,
            memory_mib: 512,
            gpus: 1,
            gpu_model: None,
            gpu_min_memory_mib: None,
            mig_profile: None,
        });
    }
}

impl Fixture {
    async fn person(&self, name: &str) -> User {
        let name = UserName::parse(name).expect("name");
        let account = NewAccount { name: &name, password: None, is_admin: false, approved: true };
        accounts::create_user(&self.hub, None, account).await.expect("user")
    }

    async fn gpu_start(&self, who: &User, server: &ServerName) -> StartOutcome {
        let requested = Requested::both("base", "gpu-test");
        start(&self.hub, Some(who.name.as_str()), who, server, requested).await.expect("start accepted")
    }

    async fn state_of(&self, who: &User, server: &ServerName) -> ServerState {
        get(&self.hub, who, server).await.expect("reads").expect("exists").state
    }

    async fn until_state(&self, who: &User, server: &ServerName, want: ServerState) {
        for _ in 0..200 {
            if self.state_of(who, server).await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{}/{server} never became {want}: {}", who.name, self.state_of(who, server).await);
    }

    async fn holders(&self) -> Vec<String> {
        let held = crate::gpus::ledger::holdings(&self.hub).await.expect("ledger");
        held.into_iter().map(|h| format!("{}/{}={}", h.user, h.server, h.uuid)).collect()
    }

    async fn queue_names(&self) -> Vec<String> {
        let q = queue(&self.hub).await.expect("queue");
        q.into_iter().map(|p| format!("{}:{}", p.position, base_url(&p.user, &p.server))).collect()
    }
}

#[tokio::test]
async fn a_gpu_start_queues_when_none_is_free_and_starts_by_itself_when_one_is_released() {
    let f = fixture(gpus(1)).await;
    let (bob, carol) = (f.person("bob").await, f.person("carol").await);
    assert_eq!(f.gpu_start(&f.alice, &default()).await, StartOutcome::Started);
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    assert_eq!(f.holders().await, ["alice/=GPU-unit-0"]);

    assert_eq!(f.gpu_start(&bob, &default()).await, StartOutcome::Queued);
    assert_eq!(f.gpu_start(&carol, &default()).await, StartOutcome::Queued);
    assert_eq!(f.state_of(&bob, &default()).await, ServerState::Queued);
    assert_eq!(f.queue_names().await, ["1:/user/bob/", "2:/user/carol/"]);
    assert_eq!(f.holders().await, ["alice/=GPU-unit-0"], "a queued server holds nothing");
    // Its progress says where it stands.
    let (events, _) =
        f.hub.progress().subscribe(get(&f.hub, &carol, &default()).await.unwrap().unwrap().id).unwrap();
    assert!(events.iter().any(|e| e.message.contains("position 2 of 2")), "{events:?}");

    // Carol leaves the queue; Bob moves up.
    stop(&f.hub, Some("carol"), &carol, &default()).await.expect("leaves");
    assert_eq!(f.state_of(&carol, &default()).await, ServerState::Stopped);
    assert_eq!(f.queue_names().await, ["1:/user/bob/"]);

    // Alice stops: Bob's server starts by itself on the released GPU.
    stop(&f.hub, Some("alice"), &f.alice, &default()).await.expect("stops");
    f.until_state(&bob, &default(), ServerState::Running).await;
    assert_eq!(f.holders().await, ["bob/=GPU-unit-0"]);
    assert!(f.queue_names().await.is_empty());
    let actions = f.actions().await;
    for wanted in ["server.queue", "server.unqueue"] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted} in {actions:?}");
    }
}

#[tokio::test]
async fn someone_without_a_gpu_goes_before_someone_who_holds_one() {
    let f = fixture(gpus(2)).await;
    let (bob, carol) = (f.person("bob").await, f.person("carol").await);
    let second = named("second");
    f.gpu_start(&f.alice, &default()).await;
    f.gpu_start(&bob, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    f.until_state(&bob, &default(), ServerState::Running).await;
    // Alice, who holds a GPU, queues first; Carol, who holds none, after her.
    assert_eq!(f.gpu_start(&f.alice, &second).await, StartOutcome::Queued);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(f.gpu_start(&carol, &default()).await, StartOutcome::Queued);
    assert_eq!(f.queue_names().await, ["1:/user/carol/", "2:/user/alice/second/"]);
    stop(&f.hub, Some("bob"), &bob, &default()).await.expect("stops");
    f.until_state(&carol, &default(), ServerState::Running).await;
    assert_eq!(f.state_of(&f.alice, &second).await, ServerState::Queued);
}

#[tokio::test]
async fn every_way_back_to_stopped_releases_the_gpus_and_no_unit_is_held_twice() {
    let f = fixture(gpus(2)).await;
    // A start that fails, one whose workload exits, one that runs and is stopped.
    f.mem.script(Script { start_fails: Some(SpawnError::ImageMissing("x".into())), ..Script::default() });
    f.gpu_start(&f.alice, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Stopped).await;
    assert!(f.holders().await.is_empty(), "a failed start released its GPU");
    f.mem.script(Script { exits_after_start: true, ..Script::default() });
    f.gpu_start(&f.alice, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Stopped).await;
    assert!(f.holders().await.is_empty(), "an exited start released its GPU");
    f.mem.script(Script::default());
    let people = [f.person("p1").await, f.person("p2").await, f.person("p3").await];
    for p in &people {
        f.gpu_start(p, &default()).await;
    }
    f.until_state(&people[0], &default(), ServerState::Running).await;
    f.until_state(&people[1], &default(), ServerState::Running).await;
    assert_eq!(f.state_of(&people[2], &default()).await, ServerState::Queued);
    let held = f.holders().await;
    let units: std::collections::HashSet<&str> = held.iter().filter_map(|h| h.split('=').nth(1)).collect();
    assert_eq!((held.len(), units.len()), (2, 2), "{held:?}");
    // The workload dies behind the hub's back: reconcile marks it stopped and the queue moves.
    f.mem.set("p1", "", None);
    reconcile(&f.hub).await.expect("reconciles");
    f.until_state(&people[2], &default(), ServerState::Running).await;
    let held = f.holders().await;
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().all(|h| !h.starts_with("p1/")), "{held:?}");
}

#[tokio::test]
async fn a_gpu_that_leaves_the_pool_flags_its_holder_and_is_not_handed_out_again() {
    let f = fixture(gpus(1)).await;
    let bob = f.person("bob").await;
    f.gpu_start(&f.alice, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    // The next reading no longer lists the GPU (it fell off the bus).
    let fresh =
        crate::gpus::Inventory { source: crate::gpus::Source::Static, units: Vec::new(), notes: Vec::new() };
    crate::gpus::apply(&f.hub, fresh).await.expect("applies");
    let info = f.info(&default()).await;
    assert_eq!(info.state, ServerState::Running, "the server keeps running; its owner decides");
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("GPU-unit-0 left the pool")), "{info:?}");
    let rows = crate::db::events::recent(f.hub.db(), 20).await.expect("events");
    assert!(rows.iter().any(|e| e.action == "gpu.lost"), "an audit row");
    // Stopped, the unit is not given to anyone: with no healthy GPU the size cannot run at all.
    stop(&f.hub, Some("alice"), &f.alice, &default()).await.expect("stops");
    let refused = start(&f.hub, Some("bob"), &bob, &default(), Requested::both("base", "gpu-test")).await;
    assert!(
        matches!(refused, Err(ServerError::Launch(LaunchError::NotEnoughGpus { available: 0, .. }))),
        "{refused:?}"
    );
    assert!(f.holders().await.is_empty());
}

fn with_limits(n: usize, limits: crate::config::GpuLimits) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        gpus(n)(c);
        c.gpu_limits.default = limits;
    }
}

const MINUTE: Duration = Duration::from_secs(60);

impl Fixture {
    async fn used_hours(&self, who: &User) -> f64 {
        crate::gpus::meter::usage_of(&self.hub, who.id, who.name.as_str()).await.expect("usage").used_hours
    }

    async fn enforce(&self) -> gpu_limits::Enforced {
        gpu_limits::enforce(&self.hub).await.expect("enforces")
    }
}

#[tokio::test]
async fn gpu_quotas_are_held_at_start_and_during_the_session_and_the_meter_counts_gpu_hours() {
    use crate::config::GpuLimits;
    use crate::gpus::limits::Refusal;
    let limits = GpuLimits { gpus_at_once: Some(1), gpu_hours: Some(2.0), ..GpuLimits::default() };
    let f = fixture(with_limits(2, limits)).await;
    let second = named("second");
    assert_eq!(f.gpu_start(&f.alice, &default()).await, StartOutcome::Started);
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    // One GPU at once: a second GPU server is refused, not queued, though a GPU is free.
    let refused = start(&f.hub, Some("alice"), &f.alice, &second, Requested::both("base", "gpu-test")).await;
    assert!(
        matches!(refused, Err(ServerError::GpuLimit(Refusal::GpusAtOnce { limit: 1, held: 1, asked: 1 }))),
        "{refused:?}"
    );
    // A CPU server is no GPU matter.
    assert_eq!(f.start(&second).await.expect("cpu start"), StartOutcome::Started);

    f.clock.advance(90 * MINUTE);
    assert!((f.used_hours(&f.alice).await - 1.5).abs() < 1e-6);
    stop(&f.hub, Some("alice"), &f.alice, &default()).await.expect("stops");
    f.clock.advance(MINUTE);
    assert!((f.used_hours(&f.alice).await - 1.5).abs() < 1e-6, "a stopped session counts no more");

    // Half an hour is left: the meter sets the deadline, warns 15 minutes ahead, then stops.
    assert_eq!(f.gpu_start(&f.alice, &default()).await, StartOutcome::Started);
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());
    let id = f.info(&default()).await.id;
    let notice = gpu_limits::notice(&f.hub, id).await.unwrap().expect("a GPU session");
    assert_eq!(notice.stops_at_ms, Some(f.clock.now_ms() + 30 * 60_000));
    assert!(!notice.warned && !notice.extensible, "{notice:?}");
    f.clock.advance(20 * MINUTE);
    assert_eq!(f.enforce().await, gpu_limits::Enforced { warned: 1, stopped: 0 });
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default(), "warned once");
    assert!(gpu_limits::notice(&f.hub, id).await.unwrap().unwrap().warned);
    f.clock.advance(11 * MINUTE);
    assert_eq!(f.enforce().await, gpu_limits::Enforced { warned: 0, stopped: 1 });
    let info = f.info(&default()).await;
    assert_eq!(info.state, ServerState::Stopped);
    assert!(
        info.last_error.as_deref().is_some_and(|e| e.contains("GPU-hours quota (2 h per 7 days)")),
        "{info:?}"
    );
    assert!(f.holders().await.is_empty());
    // Stopped at the first round past the deadline (a minute late here): 2 h and a little.
    let used = f.used_hours(&f.alice).await;
    assert!((2.0..2.02).contains(&used), "{used}");

    // Used up: refused at start with the figures.
    let refused = f.hub_start_gpu(&f.alice).await;
    assert!(matches!(&refused, Err(ServerError::GpuLimit(Refusal::GpuHours { .. }))), "{refused:?}");
    // An admin raises Alice's hours on the admin page: she may start again.
    let more = crate::gpus::meter::SubjectName::User("alice".into());
    crate::gpus::meter::set_override(
        &f.hub,
        Some("admin"),
        &more,
        Some(GpuLimits { gpu_hours: Some(10.0), ..GpuLimits::default() }),
    )
    .await
    .expect("sets");
    assert_eq!(f.hub_start_gpu(&f.alice).await.expect("starts"), StartOutcome::Started);
    let usage = crate::gpus::meter::usage_of(&f.hub, f.alice.id, "alice").await.unwrap();
    assert_eq!((usage.limits.gpu_hours, usage.limits.gpus_at_once), (Some(10.0), Some(1)));
    assert_eq!(usage.sessions.len(), 3);
    let rows = crate::db::events::recent(f.hub.db(), 100).await.expect("events");
    let actions: Vec<String> = rows.into_iter().map(|e| e.action).collect();
    for wanted in ["gpu.warning", "gpu.limits"] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted} in {actions:?}");
    }
}

impl Fixture {
    async fn hub_start_gpu(&self, who: &User) -> Result<StartOutcome, ServerError> {
        start(&self.hub, Some(who.name.as_str()), who, &default(), Requested::both("base", "gpu-test")).await
    }
}

#[tokio::test]
async fn a_session_limit_warns_then_stops_and_may_be_extended_only_while_nobody_waits() {
    use crate::config::GpuLimits;
    let f = fixture(with_limits(2, GpuLimits { max_session_hours: Some(1.0), ..GpuLimits::default() })).await;
    let (bob, carol) = (f.person("bob").await, f.person("carol").await);
    f.gpu_start(&f.alice, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    let started = f.clock.now_ms();
    f.clock.advance(50 * MINUTE);
    assert_eq!(f.enforce().await, gpu_limits::Enforced { warned: 1, stopped: 0 });
    let id = f.info(&default()).await.id;
    let notice = gpu_limits::notice(&f.hub, id).await.unwrap().unwrap();
    assert!(notice.warned && notice.extensible, "{notice:?}");
    assert_eq!(notice.reason.as_deref(), Some("the GPU session limit of 1 h was reached"));
    // Nobody waits: Alice extends by an hour.
    let until = gpu_limits::extend(&f.hub, Some("alice"), &f.alice, &default()).await.expect("extends");
    assert_eq!(until, started + 120 * 60_000);
    assert!(!gpu_limits::notice(&f.hub, id).await.unwrap().unwrap().warned, "the warning is withdrawn");
    f.clock.advance(20 * MINUTE);
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());

    // Bob takes the other GPU; Carol waits, with an estimate from Alice's deadline (50 min away).
    f.gpu_start(&bob, &default()).await;
    f.until_state(&bob, &default(), ServerState::Running).await;
    assert_eq!(f.gpu_start(&carol, &default()).await, StartOutcome::Queued);
    let place = queue(&f.hub).await.unwrap().pop().expect("carol waits");
    assert_eq!(place.estimated_wait_ms, Some(50 * 60_000));
    assert_eq!(describe_wait(place.estimated_wait_ms), "about 50 min");
    let refused = gpu_limits::extend(&f.hub, Some("alice"), &f.alice, &default()).await;
    assert!(matches!(refused, Err(ServerError::OthersWaiting)), "{refused:?}");

    f.clock.advance(50 * MINUTE);
    assert_eq!(f.enforce().await.stopped, 1);
    let info = f.info(&default()).await;
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("session limit of 1 h")), "{info:?}");
    f.until_state(&carol, &default(), ServerState::Running).await;
    assert_eq!(f.state_of(&bob, &default()).await, ServerState::Running);
}

#[tokio::test]
async fn a_gpu_server_whose_gpus_stay_idle_is_warned_then_stopped() {
    use crate::gpus::readings::Reading;
    let f = fixture(|c: &mut Config| {
        gpus(1)(c);
        c.gpu_limits.gpu_idle_timeout_minutes = 30;
    })
    .await;
    f.gpu_start(&f.alice, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    let reading = |processes, util| Reading {
        uuid: "GPU-unit-0".into(),
        utilization_percent: Some(util),
        memory_used_mib: Some(0),
        processes: Some(processes),
    };
    let readings = f.hub.gpus().readings().clone();
    // Without readings (a static inventory), nothing is idle.
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());
    f.clock.advance(40 * MINUTE);
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());
    // Idle readings start the clock; a busy one resets it.
    readings.replace(vec![reading(0, 0)]);
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());
    f.clock.advance(20 * MINUTE);
    readings.replace(vec![reading(1, 90)]);
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());
    readings.replace(vec![reading(0, 1)]);
    assert_eq!(f.enforce().await, gpu_limits::Enforced::default());
    f.clock.advance(16 * MINUTE);
    assert_eq!(f.enforce().await, gpu_limits::Enforced { warned: 1, stopped: 0 });
    f.clock.advance(15 * MINUTE);
    assert_eq!(f.enforce().await.stopped, 1);
    let info = f.info(&default()).await;
    assert!(info.last_error.as_deref().is_some_and(|e| e.contains("idle for 30 minutes")), "{info:?}");
    assert!(f.holders().await.is_empty(), "its GPU is back in the pool");
}

#[tokio::test]
async fn a_queued_server_whose_owner_ran_out_of_gpu_hours_leaves_the_queue_at_its_turn() {
    use crate::config::GpuLimits;
    let f = fixture(gpus(1)).await;
    let bob = f.person("bob").await;
    f.gpu_start(&f.alice, &default()).await;
    f.until_state(&f.alice, &default(), ServerState::Running).await;
    assert_eq!(f.gpu_start(&bob, &default()).await, StartOutcome::Queued);
    let none = crate::gpus::meter::SubjectName::User("bob".into());
    crate::gpus::meter::set_override(
        &f.hub,
        Some("admin"),
        &none,
        Some(GpuLimits { gpu_hours: Some(0.0), ..GpuLimits::default() }),
    )
    .await
    .expect("sets");
    stop(&f.hub, Some("alice"), &f.alice, &default()).await.expect("stops");
    f.until_state(&bob, &default(), ServerState::Stopped).await;
    let info = get(&f.hub, &bob, &default()).await.unwrap().unwrap();
    assert!(
        info.last_error.as_deref().is_some_and(|e| e.contains("left the queue: your GPU-hours are used up")),
        "{info:?}"
    );
    assert!(f.holders().await.is_empty());
}
