//! The proxy's route table: which (user, server) goes to which Jupyter, with the token to add.
//! Rebuilt from the database at start-up (`servers::reconcile`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::spawner::Upstream;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub server_id: i64,
    pub user_id: i64,
    pub upstream: Upstream,
    /// Sent to Jupyter as `Authorization: token …`; never to the browser. `None` for a
    /// single-user server: the browser authenticates itself to it (its OAuth cookie), and the
    /// server's own token would make every request its owner's.
    pub token: Option<String>,
}

#[derive(Default, Clone)]
pub struct RouteTable {
    routes: Arc<RwLock<HashMap<(String, String), Route>>>,
    /// How long adding and deleting took (JupyterHub's proxy add and delete durations).
    timers: Option<(prometheus::Histogram, prometheus::Histogram)>,
}

impl RouteTable {
    /// A table that reports its changes' durations to `metrics`.
    pub fn timed(metrics: &crate::metrics::Metrics) -> Self {
        Self { routes: Arc::default(), timers: Some(metrics.route_timers()) }
    }

    pub fn add(&self, user: &str, server: &str, route: Route) {
        let began = std::time::Instant::now();
        if let Ok(mut r) = self.routes.write() {
            r.insert((user.to_owned(), server.to_owned()), route);
        }
        if let Some((added, _)) = &self.timers {
            added.observe(began.elapsed().as_secs_f64());
        }
    }

    pub fn remove(&self, user: &str, server: &str) {
        let began = std::time::Instant::now();
        if let Ok(mut r) = self.routes.write() {
            r.remove(&(user.to_owned(), server.to_owned()));
        }
        if let Some((_, deleted)) = &self.timers {
            deleted.observe(began.elapsed().as_secs_f64());
        }
    }

    pub fn get(&self, user: &str, server: &str) -> Option<Route> {
        self.routes.read().ok()?.get(&(user.to_owned(), server.to_owned())).cloned()
    }

    /// Every route, with its user's and server's names.
    pub fn all(&self) -> Vec<(String, String, Route)> {
        match self.routes.read() {
            Ok(r) => r
                .iter()
                .map(|((user, server), route)| (user.clone(), server.clone(), route.clone()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.routes.read().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
