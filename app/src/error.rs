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
    /// Too many attempts; the message says when to try again.
    #[error("{0}")]
    Throttled(String),
    /// The hub is too busy to do it now (503); try again after `retry_after_seconds`.
    #[error("{message}")]
    Busy { message: String, retry_after_seconds: u64 },
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("Only administrators can do that.")]
    Forbidden,
    #[error("{0} was not found.")]
    NotFound(String),
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
            AppError::Forbidden => 403,
            AppError::NotFound(_) => 404,
            AppError::Throttled(_) => 429,
            AppError::Internal => 500,
            AppError::Busy { .. } => 503,
        }
    }

    /// Seconds for a `Retry-After` header, for the errors that have one.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            AppError::Busy { retry_after_seconds, .. } => Some(*retry_after_seconds),
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

#[cfg(feature = "ssr")]
impl From<hub::servers::ServerError> for AppError {
    fn from(e: hub::servers::ServerError) -> Self {
        use hub::servers::ServerError as E;
        match e {
            E::Unexpected(e) => AppError::internal(format!("{e:#}")),
            E::NotFound => AppError::NotFound("The server".into()),
            E::TooManySpawns { .. } | E::TooManyActive { .. } => AppError::Throttled(e.to_string()),
            E::BadRow(_) => AppError::internal(e.to_string()),
            E::StopFailed(_) => AppError::Busy { message: e.to_string(), retry_after_seconds: 30 },
            other => AppError::Invalid(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<hub::accounts::AccountError> for AppError {
    fn from(e: hub::accounts::AccountError) -> Self {
        use hub::accounts::AccountError as E;
        match e {
            E::Unexpected(e) => AppError::internal(format!("{e:#}")),
            E::NoSuchUser(name) => AppError::NotFound(format!("User {name}")),
            E::Hashing(hub::accounts::HashError::Failed(e)) => AppError::internal(format!("{e:#}")),
            E::Hashing(busy @ hub::accounts::HashError::Busy { retry_after_seconds }) => {
                AppError::Busy { message: busy.to_string(), retry_after_seconds }
            }
            other => AppError::Invalid(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<hub::groups::GroupError> for AppError {
    fn from(e: hub::groups::GroupError) -> Self {
        use hub::groups::GroupError as E;
        match e {
            E::Unexpected(e) => AppError::internal(format!("{e:#}")),
            E::NotFound(name) => AppError::NotFound(format!("Group {name}")),
            other => AppError::Invalid(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<hub::users::UserOpError> for AppError {
    fn from(e: hub::users::UserOpError) -> Self {
        use hub::users::UserOpError as E;
        match e {
            E::Account(e) => e.into(),
            E::Server(e) => e.into(),
            other => AppError::Invalid(other.to_string()),
        }
    }
}
