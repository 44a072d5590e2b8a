//! Which servers this process is starting or stopping right now, and when each was last checked
//! because the proxy could not reach it. In memory on purpose: it describes this process only
//! (the database's `worker` column and instance leases say the same to other processes).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default, Clone)]
pub struct InFlight {
    ids: Arc<Mutex<HashSet<i64>>>,
}

/// Held while a start or stop of one server runs; dropping it ends the mark.
pub struct Busy {
    ids: Arc<Mutex<HashSet<i64>>>,
    id: i64,
}

impl InFlight {
    pub fn hold(&self, id: i64) -> Busy {
        if let Ok(mut ids) = self.ids.lock() {
            ids.insert(id);
        }
        Busy { ids: self.ids.clone(), id }
    }

    pub fn contains(&self, id: i64) -> bool {
        self.ids.lock().map(|ids| ids.contains(&id)).unwrap_or(false)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.remove(&self.id);
        }
    }
}

/// At most one action per key per interval.
#[derive(Default, Clone)]
pub struct Debounce {
    last: Arc<Mutex<HashMap<i64, Instant>>>,
}

impl Debounce {
    /// True (and remembered) when `key` was not allowed within the last `every`.
    pub fn allow(&self, key: i64, every: Duration) -> bool {
        let Ok(mut last) = self.last.lock() else { return false };
        let now = Instant::now();
        last.retain(|_, at| now.duration_since(*at) < every);
        if last.contains_key(&key) {
            return false;
        }
        last.insert(key, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_ends_when_dropped() {
        let f = InFlight::default();
        let busy = f.hold(3);
        assert!(f.contains(3) && !f.contains(4));
        drop(busy);
        assert!(!f.contains(3));
    }

    #[test]
    fn debounce_allows_once_per_interval_and_key() {
        let d = Debounce::default();
        assert!(d.allow(1, Duration::from_secs(60)));
        assert!(!d.allow(1, Duration::from_secs(60)));
        assert!(d.allow(2, Duration::from_secs(60)));
        assert!(d.allow(1, Duration::ZERO));
    }
}
