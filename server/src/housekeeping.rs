//! Background housekeeping: drops expired sessions, old failed-sign-in records and stale
//! OpenID Connect attempts; flushes activity; polls servers; culls; discovers the OpenID Connect
//! provider.

use std::time::Duration;

use hub::Hub;
use tracing::warn;

const EVERY: Duration = Duration::from_secs(600);

/// Runs until the task is dropped; errors are logged and the loop goes on.
pub async fn run(hub: Hub) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        hub::maintenance::prune(&hub).await;
    }
}

/// Reads the OpenID Connect provider's metadata soon after start-up, so the login page knows
/// whether it can offer the provider; the hub does not wait for it (a provider that is down must
/// not keep the hub, or local sign-in, from starting).
pub async fn discover_provider(hub: Hub) {
    if let Some(oidc) = hub.oidc() {
        if let Err(reason) = oidc.availability().await {
            warn!(%reason, "the OpenID Connect provider is unreachable; sign-in through it waits for it");
        }
    }
}

/// How often proxied activity is written to the database.
const ACTIVITY_EVERY: Duration = Duration::from_secs(10);

/// Writes batched proxy activity (servers' and users' last activity) and tokens' last use
/// every few seconds.
pub async fn flush_activity(hub: Hub) {
    let mut tick = tokio::time::interval(ACTIVITY_EVERY);
    loop {
        tick.tick().await;
        flush_once(&hub).await;
    }
}

/// One round of [`flush_activity`] (also at shutdown).
pub async fn flush_once(hub: &Hub) {
    if let Err(e) = hub.activity().flush(hub).await {
        warn!(error = %e, "writing activity failed");
    }
    if let Err(e) = hub::access::flush_token_use(hub).await {
        warn!(error = %e, "writing tokens' last use failed");
    }
}

/// Samples the running servers' CPU and memory for every viewer at once (see
/// `hub::servers::live_usage`): rounds run only while someone looks.
pub async fn sample_usage(hub: Hub) {
    loop {
        hub.live_usage().next_round().await;
        if let Err(e) = hub::servers::live_usage::sample(&hub).await {
            warn!(error = %e, "sampling the servers' usage failed");
        }
    }
}

/// Asks plain-JupyterLab servers what their kernels and terminals did, every
/// `servers.activity_poll_seconds` (under the reconcile lease: one process asks).
pub async fn poll_kernels(hub: Hub) {
    let mut tick = tokio::time::interval(Duration::from_secs(hub.config().servers.activity_poll_seconds));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        hub::servers::kernels::poll_round(&hub).await;
    }
}

/// Culls idle and old servers (and idle users) every `culler.every_seconds`, when `[culler]` is
/// enabled (under the reconcile lease: one process culls).
pub async fn cull(hub: Hub) {
    if !hub.config().culler.enabled {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(hub.config().culler.every_seconds));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = hub::servers::culler::round(&hub).await {
            warn!(error = %e, "culling failed");
        }
    }
}

/// How often the servers are reconciled (a crashed container is noticed within this time).
const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// Reconciles the database against the spawners (under the database lease, so one hub process
/// does it): dead servers are marked stopped and lose their route, moved ones are followed,
/// abandoned starts and failed stops are settled, orphans removed.
pub async fn reconcile_servers(hub: Hub) {
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    tick.tick().await; // start-up already reconciled
    loop {
        tick.tick().await;
        if let Err(e) = hub::servers::reconcile(&hub).await {
            warn!(error = %e, "reconciling servers failed");
        }
    }
}

/// Samples the Overview's figures every few minutes (under the reconcile lease: one process).
pub async fn sample_overview(hub: Hub) {
    let mut tick = tokio::time::interval(hub::overview::SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = hub::overview::sample(&hub).await {
            warn!(error = %e, "sampling the overview's figures failed");
        }
    }
}

/// How often the spawner's engine is asked whether it answers.
const ENGINE_EVERY: Duration = Duration::from_secs(2);

/// Watches the spawner's engine: an outage shows on the dashboard, and the servers are
/// reconciled as soon as it ends (see `hub::servers::engine`).
pub async fn watch_engine(hub: Hub) {
    let mut tick = tokio::time::interval(ENGINE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        hub::servers::engine::check(&hub).await;
    }
}

/// How often the GPUs' utilization, memory and processes are sampled (for live usage and idle
/// reclaim; nothing is sampled for a static inventory).
const GPU_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples the GPUs every few seconds, and reads the inventory again every
/// `servers.gpu_refresh_seconds` (a GPU that vanished or reports errors leaves the pool).
pub async fn refresh_gpus(hub: Hub) {
    let refresh = Duration::from_secs(hub.config().servers.gpu_refresh_seconds);
    let mut tick = tokio::time::interval(GPU_SAMPLE_EVERY);
    let mut last_refresh = tokio::time::Instant::now(); // read at start-up
    loop {
        tick.tick().await;
        if last_refresh.elapsed() >= refresh {
            hub::gpus::refresh(&hub).await;
            last_refresh = tokio::time::Instant::now();
        }
        hub::gpus::sample(&hub).await;
    }
}

/// Renews this process's instance lease, a third of its lifetime apart, so other processes know
/// the starts and stops it carries out are still under way.
pub async fn renew_instance_lease(hub: Hub) {
    let mut tick = tokio::time::interval(hub::INSTANCE_LEASE_TTL / 3);
    loop {
        tick.tick().await;
        if let Err(e) = hub.renew_instance_lease().await {
            warn!(error = %e, "renewing the instance lease failed");
        }
    }
}
