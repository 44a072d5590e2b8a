//! One module per page, each with the server functions it calls.

pub mod account;
pub mod admin;
pub mod home;
pub mod login;
pub mod not_found;
pub mod sharing;
pub mod signup;
pub mod spawn_pending;
pub mod tokens;
pub mod usage;
