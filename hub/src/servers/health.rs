//! Watching running servers: the periodic poll, and a check when the proxy cannot reach one;
//! follows a moved address, or settles a workload that died.

use super::*;

/// How long a server that has just exited gets to come back before it counts as gone: `docker
/// restart` stops and starts the same workload, and a poll in between must not remove it.
pub(super) const RESTART_GRACE: Duration = Duration::from_secs(3);

/// Checks one running server against its spawner: follows an address the engine changed (e.g.
/// after `docker restart`), routes it, or — when its workload is gone or has exited for good —
/// removes what is left and marks it stopped.
pub(super) async fn check_running(hub: &Hub, row: &ServerRow) -> Result<(), ServerError> {
    let Some(workload) = &row.workload else { return Ok(()) };
    let spawner = spawner_of(hub, row)?;
    let began = std::time::Instant::now();
    let mut status = spawner.poll(&workload.workload).await;
    let polled = match status {
        Ok(ServerStatus::Running { .. } | ServerStatus::Restarting) => crate::metrics::PollStatus::Running,
        _ => crate::metrics::PollStatus::Stopped,
    };
    hub.metrics().poll(polled, began.elapsed());
    if matches!(status, Ok(ServerStatus::Exited { .. })) {
        tokio::time::sleep(RESTART_GRACE).await;
        status = spawner.poll(&workload.workload).await;
    }
    match status {
        Ok(ServerStatus::Running { upstream }) => {
            let mut current = row.upstream.clone();
            if let Some(now) = upstream.filter(|u| row.upstream.as_ref() != Some(u)) {
                info!(user.name = %row.user_name, server.name = %row.name, old = ?row.upstream, new = %now,
                    "the server's address changed; following it");
                let mut conn = hub.db().acquire().await?;
                if !db::servers::set_upstream(&mut conn, row.id, &now).await? {
                    return Ok(()); // stopped meanwhile
                }
                current = Some(now);
            }
            let Some(upstream) = current else { return Ok(()) };
            let route = hub.routes().get(row.user_name.as_str(), row.name.as_str());
            if route.is_none_or(|r| r.upstream != upstream) {
                hub.routes().add(
                    row.user_name.as_str(),
                    row.name.as_str(),
                    route_for(hub, row, upstream, workload),
                );
            }
        }
        // Neither gone nor reachable: look again next time.
        Ok(ServerStatus::Restarting) => {}
        Ok(status) => {
            info!(user.name = %row.user_name, server.name = %row.name, ?status, "server is gone; marking it stopped");
            hub.routes().remove(row.user_name.as_str(), row.name.as_str());
            // Its last words are kept for its owner before the workload goes.
            let log = super::logs::capture(hub, row, workload).await;
            // Whatever is left of it goes first; a row never says stopped while its workload exists.
            spawner.stop(&workload.workload).await?;
            let reason = match status {
                ServerStatus::Exited { oom_killed: true, .. } => "the server ran out of memory".to_owned(),
                ServerStatus::Exited { code, .. } => format!("the server exited (code {code})"),
                _ => "the server's workload disappeared".to_owned(),
            };
            transitions::died(hub, row, &reason).await?;
            if let Some(log) = log {
                super::logs::keep(hub, row.id, &log).await;
            }
        }
        // Engine down: keep the row as it is and look again next time.
        Err(e) => {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "cannot check a running server")
        }
    }
    Ok(())
}

/// Checks every server the database says is running (at start-up and periodically), so a server
/// that dies or moves is noticed without anyone asking.
pub async fn poll_running(hub: &Hub) -> Result<(), ServerError> {
    let began = std::time::Instant::now();
    for row in rows_in(hub, ServerState::Running).await? {
        if let Err(e) = check_running(hub, &row).await {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "checking a running server failed");
        }
    }
    hub.metrics().routes_checked(began.elapsed());
    Ok(())
}

/// How often one server is checked at most because the proxy could not reach it.
pub(super) const CHECK_DEBOUNCE: Duration = Duration::from_secs(5);

/// The proxy could not connect to `server_id`: checks that one server, at most once per
/// [`CHECK_DEBOUNCE`], in the background.
pub fn check_soon(hub: &Hub, server_id: i64) {
    if !hub.debounce().allow(server_id, CHECK_DEBOUNCE) {
        return;
    }
    let hub = hub.clone();
    tokio::spawn(async move {
        match db::servers::by_id(hub.db(), server_id).await {
            Ok(Some(row)) if row.state == ServerState::Running => {
                if let Err(e) = check_running(&hub, &row).await {
                    warn!(server.id = server_id, error = %e, "checking an unreachable server failed");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(server.id = server_id, error = %e, "cannot read an unreachable server's row"),
        }
    });
}
