//! Ganymede's domain crate: configuration, database, accounts and sessions.
//!
//! Server-only. It knows nothing about HTTP or Leptos: `server` and `app` (with `ssr`) call it.

pub mod access;
pub mod accounts;
pub mod announcements;
pub mod audit;
pub mod catalogue;
pub mod change;
pub mod clock;
pub mod config;
pub mod database;
pub mod db;
pub mod domain;
pub mod error;
pub mod gpus;
pub mod groups;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod overview;
pub mod scopes;
pub mod secret;
pub mod servers;
pub mod services;
pub mod sessions;
pub mod sharing;
pub mod spawner;
pub mod stored;
pub mod tokens;
pub mod users;

mod hub;

pub use hub::{Hub, HubError, INSTANCE_LEASE_TTL};
