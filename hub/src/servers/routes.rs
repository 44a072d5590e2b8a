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
}

impl RouteTable {
    pub fn add(&self, user: &str, server: &str, route: Route) {
        if let Ok(mut r) = self.routes.write() {
            r.insert((user.to_owned(), server.to_owned()), route);
        }
    }

    pub fn remove(&self, user: &str, server: &str) {
        if let Ok(mut r) = self.routes.write() {
            r.remove(&(user.to_owned(), server.to_owned()));
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
