//! Pieces shared by several pages.

pub mod announcements;
pub mod chart;
pub mod form_message;
pub mod live_usage;
pub mod nav;
