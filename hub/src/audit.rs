//! The audit log as the admin page reads it. Rows are written by the operations themselves, in
//! their transactions; no edge writes one.

use crate::db::events;
use crate::Hub;

/// One entry of the log (`detail`: its JSON detail, empty when it has none).
pub use crate::db::events::EventRow as Entry;

#[derive(Debug, thiserror::Error)]
#[error("reading the audit log failed: {0}")]
pub struct AuditError(#[from] sqlx::Error);

impl crate::error::Classify for AuditError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Internal
    }
}

/// One page of the log, newest first; with `filter`, only entries whose actor, target or action
/// contains it (any case). Returns the total that match too.
pub async fn page(
    hub: &Hub,
    filter: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Entry>, i64), AuditError> {
    let filter = filter.map(str::trim).filter(|f| !f.is_empty());
    let (rows, total) = events::page(hub.db(), filter, offset.max(0), limit.max(0)).await?;
    let entries = rows
        .into_iter()
        .map(|mut e| {
            if e.detail == "{}" {
                e.detail.clear();
            }
            e
        })
        .collect();
    Ok((entries, total))
}
