//! A handler that panics answers 500 instead of dropping the connection: tower-http's
//! `CatchPanicLayer` turns the panic into a response (logged once, here, with the request's
//! span), and [`shape`] gives it the error shape of where it happened: the API's
//! `{"status","message"}` under `/hub/api`, a short HTML page elsewhere. The panic's text stays
//! in the log.

use std::any::Any;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::api::error::ApiError;

/// Marks a response made from a panic.
#[derive(Debug, Clone, Copy)]
struct Panicked;

const MESSAGE: &str = "Internal error; it has been logged.";

pub type Layer = CatchPanicLayer<fn(Box<dyn Any + Send + 'static>) -> Response>;

/// The catch-panic layer; wrap it in [`shape`].
pub fn layer() -> Layer {
    CatchPanicLayer::custom(answer as fn(Box<dyn Any + Send + 'static>) -> Response)
}

fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not a string)".to_owned());
    tracing::error!(panic = %text, "a request handler panicked; answered 500");
    let mut response = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, MESSAGE).into_response();
    response.extensions_mut().insert(Panicked);
    response
}

/// Outside [`layer`]: a panic's answer outside the API becomes an HTML page.
pub async fn shape(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/hub/api");
    let response = next.run(request).await;
    if api || response.extensions().get::<Panicked>().is_none() {
        return response;
    }
    super::html::page(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", &format!("<p>{MESSAGE}</p>"))
}
