//! One classification of every domain error, so each edge (the REST API's JSON error, the pages'
//! server-function error) maps failures once, by class, and never by error type.

use std::error::Error;

/// What kind of failure an error is. The message of every class but `Internal` is written for the
/// person who made the request; an `Internal` error's text is logged and never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is wrong: a bad name, option, value or state for this action.
    Invalid,
    /// What the request names does not exist.
    NotFound,
    /// It collides with what exists (a name taken, everything already there).
    Conflict,
    /// The caller may not do this.
    Forbidden,
    /// Too many attempts or starts right now; retry after this many seconds.
    Throttled { retry_after_seconds: u64 },
    /// A part the hub depends on (the engine, the identity provider, the password workers) cannot
    /// do it right now; retry after this many seconds.
    Unavailable { retry_after_seconds: u64 },
    /// A fault of the hub (database, bad stored data, a bug).
    Internal,
}

/// How long clients are told to wait when a dependency is unavailable.
pub const UNAVAILABLE_RETRY_SECONDS: u64 = 30;

impl ErrorClass {
    /// Seconds for a `Retry-After` header, for the classes that have one.
    pub fn retry_after_seconds(self) -> Option<u64> {
        match self {
            ErrorClass::Throttled { retry_after_seconds }
            | ErrorClass::Unavailable { retry_after_seconds } => Some(retry_after_seconds),
            _ => None,
        }
    }
}

/// Implemented by every error a `hub` operation returns to an edge.
pub trait Classify: Error {
    fn class(&self) -> ErrorClass;
}

/// The error and all its causes on one line, for the log (`Display` of a wrapped `anyhow` error
/// shows only its outermost context).
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AccountError, HashError};
    use crate::domain::UserName;
    use crate::servers::ServerError;

    #[test]
    fn classes_follow_the_failure_not_the_type() {
        let name = UserName::parse("ann").unwrap();
        assert_eq!(AccountError::AlreadyExists(name.clone()).class(), ErrorClass::Conflict);
        assert_eq!(AccountError::NoSuchUser(name).class(), ErrorClass::NotFound);
        assert_eq!(
            AccountError::Hashing(HashError::Busy { retry_after_seconds: 2 }).class(),
            ErrorClass::Unavailable { retry_after_seconds: 2 }
        );
        assert_eq!(ServerError::NameTaken("x".into()).class(), ErrorClass::Conflict);
        assert_eq!(
            ServerError::TooManySpawns { retry_after_seconds: 7 }.class().retry_after_seconds(),
            Some(7)
        );
        assert_eq!(ServerError::Unexpected(anyhow::anyhow!("db gone")).class(), ErrorClass::Internal);
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let inner = anyhow::anyhow!("connection refused").context("reading servers");
        let e = ServerError::Unexpected(inner);
        assert_eq!(chain(&e), "reading servers: connection refused");
    }
}
