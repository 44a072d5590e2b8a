//! Stopping and deleting servers (and all of a user's, with their home).

use super::*;

/// Stops a server and waits for its workload to be gone. Stopping a stopped server is a no-op;
/// stopping one whose earlier stop failed tries again. When the spawner refuses, the row stays
/// `stopping` with the error and [`ServerError::StopFailed`] comes back.
#[tracing::instrument(skip(hub, user), fields(user.name = %user.name, server.name = %server))]
pub async fn stop(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    let row = db::servers::get(hub.db(), user.id, server).await?.ok_or(ServerError::NotFound)?;
    match row.state {
        ServerState::Stopped => return Ok(()),
        ServerState::Running => {
            if !transitions::begin_stop(hub, actor, &row, None).await? {
                let now = db::servers::by_id(hub.db(), row.id).await?.map(|r| r.state);
                return Err(ServerError::Busy(now.unwrap_or(row.state)));
            }
        }
        ServerState::Stopping if hub.in_flight().contains(row.id) => {
            return Err(ServerError::Busy(row.state))
        }
        ServerState::Stopping => {}
        ServerState::Queued => {
            transitions::leave_queue(hub, actor, &row).await?;
            hub.progress().publish(row.id, ProgressEvent::failed("Left the queue."));
            return Ok(());
        }
        ServerState::Pending => return Err(ServerError::Busy(ServerState::Pending)),
    }
    let _busy = hub.in_flight().hold(row.id);
    hub.routes().remove(user.name.as_str(), server.as_str());
    carry_out_stop(hub, &row).await
}

/// Stops a running server for a reason of the hub's own (the culler, a GPU limit): the reason
/// goes to the audit log and, once stopped, to the server's `last_error`. False when it was not
/// running.
pub(crate) async fn stop_because(
    hub: &Hub,
    row: &ServerRow,
    because: &transitions::Because<'_>,
) -> Result<bool, ServerError> {
    if !transitions::begin_stop(hub, None, row, Some(because)).await? {
        return Ok(false);
    }
    let _busy = hub.in_flight().hold(row.id);
    hub.routes().remove(row.user_name.as_str(), row.name.as_str());
    carry_out_stop(hub, row).await?;
    Ok(true)
}

/// Asks the workload's spawner to stop it, then records the outcome: `stopped`, or `stopping`
/// with the error (retried by [`retry_stops`]).
pub(super) async fn carry_out_stop(hub: &Hub, row: &ServerRow) -> Result<(), ServerError> {
    let began = std::time::Instant::now();
    let result = match (spawner_of(hub, row), &row.workload) {
        (Ok(spawner), Some(w)) => spawner.stop(&w.workload).await,
        (Ok(_), None) => Ok(()),
        (Err(e), _) => Err(e),
    };
    hub.metrics().stop(crate::metrics::Outcome::of(&result), began.elapsed());
    match result {
        Ok(()) => {
            retry_db(|| transitions::finish_stop(hub, row)).await?;
            info!(user.name = %row.user_name, server.name = %row.name, "server stopped");
            Ok(())
        }
        Err(e) => {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "stopping failed; retried later");
            let message = e.to_string();
            retry_db(|| transitions::stop_failed(hub, row, &message)).await?;
            Err(ServerError::StopFailed(e))
        }
    }
}

/// Stops (when needed) and forgets a server. The user's home stays.
pub async fn delete(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
) -> Result<(), ServerError> {
    stop(hub, actor, user, server).await?;
    let row = db::servers::get(hub.db(), user.id, server).await?.ok_or(ServerError::NotFound)?;
    let mut tx = hub.db().begin().await?;
    if !db::servers::delete_stopped(&mut tx, row.id).await? {
        return Err(ServerError::Busy(row.state));
    }
    events::record(&mut *tx, actor, "server.delete", Some(&format!("{}/{}", user.name, server)), json!({}))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Stops and forgets all of a user's servers and removes their home: what deleting a user with
/// their data needs.
pub async fn purge_user(hub: &Hub, actor: Option<&str>, user: &User) -> Result<(), ServerError> {
    for info in list(hub, user).await? {
        delete(hub, actor, user, &info.name).await?;
    }
    for kind in hub.spawners().kinds().collect::<Vec<_>>() {
        let removed = hub.spawners().of(kind)?.remove_home(&user.name).await;
        match removed {
            Ok(()) => {}
            Err(e) if kind == hub.spawners().current_kind() => return Err(e.into()),
            Err(e) => warn!(spawner = %kind, error = %e, "removing a home on a spawner not in use failed"),
        }
    }
    events::record(hub.db(), actor, "user.purge_home", Some(user.name.as_str()), json!({})).await?;
    Ok(())
}
