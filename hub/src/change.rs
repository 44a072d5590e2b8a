//! One transaction per change: its statements, its audit row, and — after the commit — what it
//! means for the access policy's memory and for open connections.
//!
//! ```text
//! let mut change = Change::begin(hub).await?;
//! db::users::set_admin(change.conn(), name, true).await?;
//! change.forgets(Changed::User(user.id));
//! change.commit(Audit::new(actor, "user.set_admin", name.as_str(), json!({ "admin": true }))).await?;
//! ```
//!
//! [`Change::commit`] is the only way to end one that keeps its writes, and it takes the audit
//! row: a change cannot land without its row, nor its row without the change.

use crate::access::Changed;
use crate::db::{events, Db, DbConn};
use crate::Hub;

/// The audit row a change writes (see `db::events`).
pub struct Audit<'a> {
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: serde_json::Value,
}

impl<'a> Audit<'a> {
    pub fn new(actor: Option<&'a str>, action: &'a str, target: &'a str, detail: serde_json::Value) -> Self {
        Self { actor, action, target: Some(target), detail }
    }
}

/// A change in progress (a database transaction; dropped without commit, it rolls back).
pub struct Change<'h> {
    hub: &'h Hub,
    tx: sqlx::Transaction<'static, Db>,
    forgets: Vec<Changed>,
}

impl<'h> Change<'h> {
    pub async fn begin(hub: &'h Hub) -> Result<Self, sqlx::Error> {
        Ok(Self { hub, tx: hub.db().begin().await?, forgets: Vec::new() })
    }

    /// The transaction's connection, for the statements of the change.
    pub fn conn(&mut self) -> &mut DbConn {
        &mut self.tx
    }

    /// What the change affects in the access policy (applied after the commit).
    pub fn forgets(&mut self, changed: Changed) {
        if !self.forgets.contains(&changed) {
            self.forgets.push(changed);
        }
    }

    /// Writes the audit row, commits, then drops what the change affects from the access
    /// policy's memory (and tells open connections).
    pub async fn commit(mut self, audit: Audit<'_>) -> Result<(), sqlx::Error> {
        events::record(&mut *self.tx, audit.actor, audit.action, audit.target, audit.detail).await?;
        self.commit_unaudited().await
    }

    /// Commits a change that by its nature writes no audit row of its own (the lifecycle's
    /// transitions write theirs through `servers::transitions`).
    pub async fn commit_unaudited(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        self.hub.access().forget(&self.forgets);
        Ok(())
    }
}
