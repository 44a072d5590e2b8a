//! The states of a server: see [`crate::stored::server_state`], where they are spelled.

pub use crate::stored::server_state::*;
