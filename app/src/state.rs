//! The axum state, also provided as Leptos context to every render and server function.

use axum::extract::FromRef;
use leptos::prelude::*;

use crate::error::AppError;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: hub::Hub,
}

/// The hub handle from context; a missing context is an internal error, not a panic.
pub fn hub() -> Result<hub::Hub, AppError> {
    use_context::<AppState>()
        .map(|s| s.hub)
        .ok_or_else(|| AppError::internal("AppState missing from the Leptos context"))
}
