//! Activity seen by the proxy, batched in memory and written every few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db;

#[derive(Default, Clone)]
pub struct Activity {
    pending: Arc<Mutex<HashMap<i64, i64>>>,
}

impl Activity {
    /// Notes that a server was used now. Cheap: no database write.
    pub fn touch(&self, server_id: i64) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(server_id, db::now_ms());
        }
    }

    /// Writes what was noted since the last flush. Returns how many servers were updated.
    pub async fn flush(&self, hub: &crate::Hub) -> Result<usize, sqlx::Error> {
        let pool = hub.db();
        let batch: Vec<(i64, i64)> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(0),
        };
        let mut conn = pool.acquire().await?;
        for (server_id, at) in &batch {
            db::servers::record_activity(&mut conn, *server_id, *at).await?;
        }
        Ok(batch.len())
    }
}
