//! Pieces shared by several pages.

pub mod form_message;
pub mod live_usage;
pub mod nav;
