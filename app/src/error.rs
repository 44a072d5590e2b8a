//! The one error type server functions return, so pages can match on what went wrong.
//! Database and internal error text never reaches the browser: it is logged on the server.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The input was refused; the message says why and is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It collides with what exists (a name taken).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts; the message says when to try again.
    #[error("{message}")]
    Throttled { message: String, retry_after_seconds: u64 },
    /// A part the hub needs cannot do it now (503); try again after `retry_after_seconds`.
    #[error("{message}")]
    Unavailable { message: String, retry_after_seconds: u64 },
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("Something went wrong on the hub; the error has been logged.")]
    Internal,
    /// Transport-level failure (network, encoding) reported by the server-function machinery.
    #[error("The request failed: {0}")]
    Request(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Request(value.to_string())
    }
}

impl AppError {
    /// The HTTP status a server function answers with when it fails this way.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Invalid(_) | AppError::Request(_) => 400,
            AppError::Unauthorized => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Throttled { .. } => 429,
            AppError::Internal => 500,
            AppError::Unavailable { .. } => 503,
        }
    }

    /// Seconds for a `Retry-After` header, for the errors that have one.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            AppError::Throttled { retry_after_seconds, .. }
            | AppError::Unavailable { retry_after_seconds, .. } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs an unexpected error once, here, and hides it from the client.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "server function failed");
        AppError::Internal
    }
}

/// Every domain error, by its class: the one mapping of the pages.
#[cfg(feature = "ssr")]
impl<E: hub::error::Classify> From<E> for AppError {
    fn from(e: E) -> Self {
        use hub::error::ErrorClass as C;
        let message = e.to_string();
        match e.class() {
            C::Invalid => AppError::Invalid(message),
            C::NotFound => AppError::NotFound(message),
            C::Conflict => AppError::Conflict(message),
            C::Forbidden => AppError::Forbidden(message),
            C::Throttled { retry_after_seconds } => AppError::Throttled { message, retry_after_seconds },
            C::Unavailable { retry_after_seconds } => AppError::Unavailable { message, retry_after_seconds },
            C::Internal => AppError::internal(hub::error::chain(&e)),
        }
    }
}
