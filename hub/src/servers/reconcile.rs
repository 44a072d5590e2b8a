//! Holding the database against the spawners, under a lease: running servers checked, starts
//! and stops whose process died settled, failed stops retried, orphans swept.

use super::*;

/// The lease reconcile runs under, and how long it holds.
pub(super) const RECONCILE_LEASE: &str = "reconcile";
pub(super) const RECONCILE_LEASE_TTL: Duration = Duration::from_secs(90);

/// How a reconcile went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// False when another hub process holds the lease (it reconciles instead).
    pub ran: bool,
    pub settled: usize,
    pub orphans_removed: usize,
}

/// Whether this process holds the reconcile lease now (what runs under it runs here).
pub(crate) async fn holds_lease(hub: &Hub) -> Result<bool, sqlx::Error> {
    let mut conn = hub.db().acquire().await?;
    Ok(leases::holder(&mut conn, RECONCILE_LEASE).await?.as_deref() == Some(hub.instance_id()))
}

/// Holds the database against every spawner in use, at start-up and periodically, under a lease
/// so that only one hub process does it: running servers are checked (and routed), starts and
/// stops whose process died are settled, failed stops are retried, and orphans are removed.
pub async fn reconcile(hub: &Hub) -> Result<Reconciled, ServerError> {
    let now = hub.clock().now_ms();
    let ttl = i64::try_from(RECONCILE_LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
    {
        let mut conn = hub.db().acquire().await?;
        // A holder that is known to be dead (killed on this host) does not keep it.
        if !crate::hub::take_lease(&mut conn, RECONCILE_LEASE, hub.instance_id(), now, ttl).await? {
            return Ok(Reconciled::default());
        }
    }
    // Routes of this process come from the database too (another replica may have started them).
    poll_running(hub).await?;
    let settled = settle_abandoned(hub).await?;
    // The ledger is held against the active rows: a claim without one is released.
    {
        let mut conn = hub.db().acquire().await?;
        let released = crate::db::gpu_claims::release_inactive(&mut conn).await?;
        if released > 0 {
            warn!(count = released, "GPU claims of servers that are not active were released");
        }
        let closed = crate::db::gpu_sessions::close_inactive(&mut conn, now).await?;
        if closed > 0 {
            warn!(count = closed, "GPU sessions of servers that are not active were closed");
        }
    }
    if let Err(e) = advance_queue(hub).await {
        warn!(error = %e, "advancing the GPU queue failed");
    }
    match gpu_limits::enforce(hub).await {
        Ok(done) if done != gpu_limits::Enforced::default() => {
            info!(warned = done.warned, stopped = done.stopped, "GPU limits enforced");
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "enforcing GPU limits failed"),
    }
    let orphans_removed = match sweep_orphans(hub).await {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "sweeping orphaned workloads failed");
            0
        }
    };
    Ok(Reconciled { ran: true, settled, orphans_removed })
}

/// Whether the process named as a row's worker still lives (its instance lease is current).
pub(super) async fn worker_alive(hub: &Hub, worker: Option<&str>) -> Result<bool, ServerError> {
    let Some(worker) = worker else { return Ok(false) };
    if worker == hub.instance_id() {
        return Ok(true);
    }
    if !crate::hub::Instance::may_live(worker) {
        return Ok(false);
    }
    let mut conn = hub.db().acquire().await?;
    Ok(leases::is_held(&mut conn, &crate::hub::instance_lease(worker), hub.clock().now_ms()).await?)
}

/// Pending rows whose start died with its process: the workload is adopted when it answers
/// (pending → running), else removed (pending → stopped, with the reason). Stopping rows whose
/// process died, or whose stop failed and is due again, are stopped again.
pub(super) async fn settle_abandoned(hub: &Hub) -> Result<usize, ServerError> {
    let mut settled = 0;
    for row in rows_in(hub, ServerState::Pending).await? {
        if hub.in_flight().contains(row.id) || worker_alive(hub, row.worker.as_deref()).await? {
            continue;
        }
        if !take_over(hub, &row).await? {
            continue;
        }
        let _busy = hub.in_flight().hold(row.id);
        if adopt_pending(hub, &row).await? {
            settled += 1;
            continue;
        }
        if let (Ok(spawner), Some(w)) = (spawner_of(hub, &row), &row.workload) {
            if let Err(e) = spawner.stop(&w.workload).await {
                warn!(user.name = %row.user_name, server.name = %row.name, error = %e,
                    "removing the workload of an interrupted start failed; retried next time");
                continue;
            }
        }
        let reason = "the hub stopped while the server was starting";
        transitions::start_failed(hub, &row, reason, "server.interrupted").await?;
        settled += 1;
    }
    let retry_ms =
        i64::try_from(hub.config().servers.stop_retry_seconds).unwrap_or(i64::MAX).saturating_mul(1000);
    let now = hub.clock().now_ms();
    for row in rows_in(hub, ServerState::Stopping).await? {
        if hub.in_flight().contains(row.id) {
            continue;
        }
        let abandoned = row.worker.is_some() && !worker_alive(hub, row.worker.as_deref()).await?;
        let due =
            row.worker.is_none() && row.state_changed_at.is_none_or(|t| now.saturating_sub(t) >= retry_ms);
        if !(abandoned || due) || !take_over(hub, &row).await? {
            continue;
        }
        let _busy = hub.in_flight().hold(row.id);
        hub.routes().remove(row.user_name.as_str(), row.name.as_str());
        if carry_out_stop(hub, &row).await.is_ok() {
            settled += 1;
        }
    }
    Ok(settled)
}

/// Makes this process the worker of a row another process abandoned; false when someone else
/// took it first.
pub(super) async fn take_over(hub: &Hub, row: &ServerRow) -> Result<bool, ServerError> {
    let mut conn = hub.db().acquire().await?;
    Ok(db::servers::take_over(&mut conn, row.id, row.state, row.worker.as_deref(), hub.instance_id()).await?)
}

/// A pending row whose workload runs and answers becomes running (the start finished while no
/// hub was watching). False when it does not answer.
pub(super) async fn adopt_pending(hub: &Hub, row: &ServerRow) -> Result<bool, ServerError> {
    let (Ok(spawner), Some(w)) = (spawner_of(hub, row), &row.workload) else { return Ok(false) };
    let Ok(ServerStatus::Running { upstream: Some(upstream) }) = spawner.poll(&w.workload).await else {
        return Ok(false);
    };
    let token = upstream_token(hub, &w.token_nonce);
    if !readiness::jupyter_answers(
        &upstream,
        &base_url(&row.user_name, &row.name),
        &token,
        flavour_kind(hub, row),
    )
    .await
    {
        return Ok(false);
    }
    if !transitions::mark_running(hub, row, &upstream, w).await? {
        return Ok(false);
    }
    info!(user.name = %row.user_name, server.name = %row.name, "adopted a server whose start outlived its hub");
    hub.routes().add(row.user_name.as_str(), row.name.as_str(), route_for(hub, row, upstream, w));
    Ok(true)
}

/// Removes every workload that carries this hub's labels but belongs to no server row that is
/// starting, running or stopping (a hub killed at the wrong moment, a row deleted behind its
/// back), for every spawner in use. Returns how many were removed.
pub async fn sweep_orphans(hub: &Hub) -> Result<usize, ServerError> {
    let current = hub.spawners().current_kind();
    // Which spawners to ask: the current one, and others only while rows they started live (a
    // hub that moved to local processes need not reach a Docker engine that is gone).
    let (live, _) = live_rows(hub).await?;
    let kinds: Vec<SpawnerKind> = hub
        .spawners()
        .kinds()
        .filter(|kind| *kind == current || live.iter().any(|r| r.spawner_kind == Some(*kind)))
        .collect();
    // List first, then read the rows: a start commits its row before it creates its workload,
    // so every workload listed here has its row in the second read. (Read first, a start that
    // committed in between would have its fresh workload swept.)
    let mut listed = Vec::new();
    for kind in kinds {
        let spawner = hub.spawners().of(kind)?;
        listed.push((kind, spawner.workloads().await?));
    }
    let (live, unreadable) = live_rows(hub).await?;
    let mut removed = 0;
    for (kind, workloads) in listed {
        let spawner = hub.spawners().of(kind)?;
        let known: HashSet<(String, String)> = live
            .iter()
            .filter(|r| r.spawner_kind.unwrap_or(current) == kind)
            .map(|r| (r.user_name.to_string(), r.name.to_string()))
            .chain(unreadable.iter().cloned())
            .collect();
        for workload in workloads {
            if known.contains(&(workload.user.clone(), workload.server.clone())) {
                continue;
            }
            warn!(user.name = %workload.user, server.name = %workload.server, running = workload.running,
                spawner = %kind, "removing a workload that no server row owns");
            spawner.stop(&workload.state).await?;
            events::record(
                hub.db(),
                None,
                "server.orphan_removed",
                Some(&format!("{}/{}", workload.user, workload.server)),
                json!({ "running": workload.running, "spawner": kind }),
            )
            .await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The rows that are starting, running or stopping, and the (user, server) of rows that do not
/// parse (their state included): those still own what they may refer to, and are never swept.
pub(super) async fn live_rows(hub: &Hub) -> Result<(Vec<ServerRow>, HashSet<(String, String)>), ServerError> {
    let mut live = Vec::new();
    let mut unreadable = HashSet::new();
    for row in db::servers::not_stopped(hub.db()).await? {
        match row {
            Ok(row) if row.state.is_live() => live.push(row),
            Ok(_) => {}
            Err(bad) => {
                unreadable.insert((bad.user_name, bad.name));
            }
        }
    }
    Ok((live, unreadable))
}
