//! `/hub/admin/usage.csv`: the admin's GPU usage report (per user and per group) as CSV. The page
//! guard already refuses non-admins; the handler checks again.

use app::session::ssr::Authenticated;
use app::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

pub async fn usage_csv(State(state): State<AppState>, user: Option<Extension<Authenticated>>) -> Response {
    let admin = match user {
        Some(Extension(Authenticated(u))) => hub::access::is_admin(&state.hub, &u).await.unwrap_or(false),
        None => false,
    };
    if !admin {
        return super::html::page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "<p>This page is for administrators.</p>",
        );
    }
    match hub::gpus::meter::report(&state.hub).await {
        Ok(report) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"ganymede-gpu-usage.csv\""),
                (header::CACHE_CONTROL, "no-store"),
            ],
            hub::gpus::meter::csv(&report),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %hub::error::chain(&e), "the GPU usage report failed");
            super::html::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>The report could not be made.</p>",
            )
        }
    }
}
