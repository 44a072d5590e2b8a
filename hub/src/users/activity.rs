//! A server's report of activity (`POST /hub/api/users/{name}/activity`, JupyterHub's contract):
//! the user's `last_activity` and each named server's, only ever forward, in one transaction.

use crate::accounts::User;
use crate::domain::ServerName;
use crate::Hub;

/// How far ahead of the hub's clock a reported time may be (JupyterHub's rule).
const FUTURE_SLACK_MS: i64 = 59 * 60 * 1000;

/// What a server reported, its times parsed at the edge (milliseconds since the epoch).
#[derive(Debug, Default)]
pub struct ActivityReport {
    pub last_activity: Option<i64>,
    /// Each server by the name it gave (`""` is the default server) and its time.
    pub servers: Vec<(String, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error("Report last_activity, servers, or both.")]
    Empty,
    #[error("No such server: {0:?}")]
    NoSuchServer(String),
    #[error("last_activity of {0} is more than 59 minutes in the future")]
    InFuture(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl crate::error::Classify for ActivityError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            ActivityError::Empty | ActivityError::NoSuchServer(_) | ActivityError::InFuture(_) => C::Invalid,
            ActivityError::Db(_) => C::Internal,
        }
    }
}

/// Records a report: every named server must exist and no time may be more than 59 minutes
/// ahead; then the servers' and the user's times move forward (a server's raises its user's).
pub async fn record(hub: &Hub, user: &User, report: &ActivityReport) -> Result<(), ActivityError> {
    if report.last_activity.is_none() && report.servers.is_empty() {
        return Err(ActivityError::Empty);
    }
    let latest = hub.clock().now_ms().saturating_add(FUTURE_SLACK_MS);
    if report.last_activity.is_some_and(|at| at > latest) {
        return Err(ActivityError::InFuture("the user".into()));
    }
    let mut servers = Vec::with_capacity(report.servers.len());
    for (name, at) in &report.servers {
        if *at > latest {
            return Err(ActivityError::InFuture(format!("server {name:?}")));
        }
        let parsed = ServerName::parse(name).map_err(|_| ActivityError::NoSuchServer(name.clone()))?;
        let row = crate::db::servers::get(hub.db(), user.id, &parsed)
            .await?
            .ok_or_else(|| ActivityError::NoSuchServer(name.clone()))?;
        servers.push((row.id, *at));
    }
    let mut tx = hub.db().begin().await?;
    for (server_id, at) in servers {
        crate::db::servers::record_activity(&mut tx, server_id, at).await?;
    }
    if let Some(at) = report.last_activity {
        crate::db::users::set_last_activity(&mut tx, user.id, at).await?;
    }
    tx.commit().await?;
    Ok(())
}
