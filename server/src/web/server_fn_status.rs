//! Server functions report every failure as 500; this layer gives each [`AppError`] its proper
//! status (400, 401, 403, 404, 409, 429 and 503 with `Retry-After`) so logs, proxies and API clients see what happened.

use app::error::AppError;
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Server-function error bodies are small JSON; anything larger is left as it is.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn map(request: Request, next: Next) -> Response {
    let is_server_fn = request.uri().path().starts_with("/hub/fn/");
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(error.status_code()) {
            parts.status = status;
        }
        if let Some(seconds) = error.retry_after_seconds() {
            parts.headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
