//! The hub binary's library: command line, HTTP surfaces (pages, server functions, health),
//! middleware, and start-up.

pub mod api;
pub mod cli;
pub mod housekeeping;
pub mod proxy;
pub mod startup;
pub mod telemetry;
pub mod web;
