//! The GPU queue: turns when GPUs come free, each place with its estimated wait, and the
//! positions on the progress pages.

use super::*;

/// Gives queued servers their turn when GPUs are free (see [`transitions::take_turns`]), starts
/// them, and tells the rest their new positions. Called when GPUs are released, after a start
/// queues, and by reconcile (so a restarted hub picks the queue up).
pub async fn advance_queue(hub: &Hub) -> Result<usize, ServerError> {
    let spawner = hub.spawners().current()?;
    let plan = |row: &ServerRow| {
        let nonce = SecretToken::generate().expose().to_owned();
        Ok((
            spawner.kind(),
            StoredWorkload { workload: spawner.planned_state(&row.user_name, &row.name), token_nonce: nonce },
        ))
    };
    let turns = transitions::take_turns(hub, plan).await?;
    let started = turns.len();
    for turn in turns {
        info!(user.name = %turn.row.user_name, server.name = %turn.row.name, gpus = ?turn.gpus, "a queued server's turn came");
        hub.progress().ensure(turn.row.id);
        if let Some(since) = turn.row.state_changed_at.filter(|_| turn.row.state == ServerState::Queued) {
            let waited = u64::try_from(hub.clock().now_ms().saturating_sub(since)).unwrap_or(0);
            hub.metrics().queue_waited(Duration::from_millis(waited));
        }
        launch_start(hub, turn.row, &turn.launch, turn.gpus, turn.planned);
    }
    publish_queue_positions(hub).await;
    Ok(started)
}

/// [`advance_queue`] in the background (from a transition that released GPUs).
pub(crate) fn advance_queue_soon(hub: &Hub) {
    let hub = hub.clone();
    tokio::spawn(async move {
        if let Err(e) = advance_queue(&hub).await {
            warn!(error = %e, "advancing the GPU queue failed; reconcile retries");
        }
    });
}

/// Where one server stands in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlace {
    pub server_id: i64,
    pub user: UserName,
    pub server: ServerName,
    pub size: Option<String>,
    /// When it joined the queue.
    pub since: Option<i64>,
    /// 1 for the next to start.
    pub position: usize,
    pub length: usize,
    /// How long until its turn, from the running GPU sessions' deadlines (`None`: no estimate).
    pub estimated_wait_ms: Option<i64>,
}

/// The queue, in the order turns are given, each place with its estimated wait.
pub async fn queue(hub: &Hub) -> Result<Vec<QueuePlace>, ServerError> {
    let now = hub.clock().now_ms();
    let mut conn = hub.db().acquire().await?;
    let rows: Vec<ServerRow> =
        db::servers::queue(&mut conn).await?.into_iter().filter_map(Result::ok).collect();
    let sessions = db::gpu_sessions::open_sessions(&mut *conn).await?;
    let held: usize = sessions.iter().map(|s| s.uuids.len()).sum();
    let free_now = hub.gpus().snapshot().healthy().count().saturating_sub(held);
    let releases: Vec<(i64, u32)> = sessions
        .iter()
        .filter_map(|s| s.deadline_at.map(|at| (at, u32::try_from(s.uuids.len()).unwrap_or(0))))
        .collect();
    let units_of = |size: &Option<String>| {
        size.as_deref().and_then(|id| hub.config().sizes.iter().find(|s| s.id == id)).map_or(1, |s| s.gpus)
    };
    let length = rows.len();
    let mut ahead = 0;
    let mut places = Vec::with_capacity(length);
    for (i, row) in rows.into_iter().enumerate() {
        let own = units_of(&row.size);
        let wait = crate::gpus::limits::estimated_wait(
            &releases,
            u32::try_from(free_now).unwrap_or(u32::MAX),
            ahead,
            own,
            now,
        );
        ahead += own;
        places.push(QueuePlace {
            server_id: row.id,
            user: row.user_name,
            server: row.name,
            size: row.size,
            since: row.state_changed_at,
            position: i + 1,
            length,
            estimated_wait_ms: wait,
        });
    }
    Ok(places)
}

/// "about 25 min", "about 2 h 10 min", or "no estimate" (a GPU session without a time limit).
pub fn describe_wait(wait_ms: Option<i64>) -> String {
    match wait_ms {
        None => "no estimate: running GPU sessions have no time limit".to_owned(),
        Some(ms) => {
            let minutes = (ms + 59_999) / 60_000;
            match minutes {
                0 | 1 => "about a minute".to_owned(),
                m if m < 60 => format!("about {m} min"),
                m if m % 60 == 0 => format!("about {} h", m / 60),
                m => format!("about {} h {} min", m / 60, m % 60),
            }
        }
    }
}

/// Tells every queued server's progress page where it stands and how busy the GPUs are.
pub(super) async fn publish_queue_positions(hub: &Hub) {
    let Ok(queue) = queue(hub).await else { return };
    let inventory = hub.gpus().snapshot();
    let held = crate::gpus::ledger::holdings(hub).await.map(|h| h.len()).unwrap_or(0);
    let total = inventory.healthy().count();
    for place in queue {
        hub.progress().ensure(place.server_id);
        hub.progress().publish(
            place.server_id,
            ProgressEvent::queued(
                place.position,
                format!(
                    "Waiting for a GPU: position {} of {} in the queue ({held} of {total} GPUs in use); estimated wait: {}",
                    place.position,
                    place.length,
                    describe_wait(place.estimated_wait_ms)
                ),
            ),
        );
    }
}
