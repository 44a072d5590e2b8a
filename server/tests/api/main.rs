//! Black-box tests: the real hub on a random port with its own database (SQLite; PostgreSQL when
//! `GANYMEDE_TEST_DATABASE` names a server: see `helpers::Scratch`), driven over HTTP.
//! One binary, modules named for what they cover. Set `TEST_LOG=1` to see the hub's logs.

mod helpers;

mod activity;
mod admin;
mod announcements;
mod auth_hardening;
mod cli;
mod compat;
mod csrf;
mod culler;
mod db_copy;
mod egress;
mod gpus;
mod health;
mod hostile;
mod jupyterhub_urls;
mod lifecycle;
mod lifecycle_faults;

mod local_spawner;
mod login;
mod metrics;
mod oauth;
mod oidc;
mod overview;
mod pages;
mod proxy;
mod rest;
mod roles;
mod schema;
mod services;
mod sessions;
mod signup;
mod singleuser;
mod spawner;
mod upgrade;
