//! Refuses requests no browser or JupyterHub client sends before they reach a handler:
//! HTTP/1 requests whose target is not a path (`CONNECT host:port`, absolute-form
//! `GET http://…`, `OPTIONS *`) answer 400, and methods the hub does not serve (`TRACE`,
//! WebDAV's, made-up ones) answer 405 with `Allow`. Leptos assumes neither happens.

use axum::extract::Request;
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use crate::api::error::ApiError;

/// The methods the hub and the servers behind its proxy are reached with.
pub const SERVED_METHODS: [Method; 7] =
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS];

/// The `Allow` header of a 405.
const ALLOWED: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// What is wrong with a request's form, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The target is not origin-form (`/path?query`).
    NotAPath,
    /// A method the hub does not serve.
    Method,
}

/// Judges a request by its version, method and target alone.
pub fn judge(
    version: Version,
    method: &Method,
    uri: &axum::http::Uri,
    extended_connect: bool,
) -> Option<Refusal> {
    let http1 = matches!(version, Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11);
    // HTTP/2 requests always carry scheme and authority; websockets over HTTP/2 use CONNECT
    // with a `:protocol` (RFC 8441).
    if *method == Method::CONNECT {
        return if !http1 && extended_connect { None } else { Some(Refusal::Method) };
    }
    if !uri.path().starts_with('/') || (http1 && (uri.scheme().is_some() || uri.authority().is_some())) {
        return Some(Refusal::NotAPath);
    }
    if !SERVED_METHODS.contains(method) {
        return Some(Refusal::Method);
    }
    None
}

pub async fn refuse_odd(request: Request, next: Next) -> Response {
    let extended_connect = request.extensions().get::<hyper::ext::Protocol>().is_some();
    let Some(refusal) = judge(request.version(), request.method(), request.uri(), extended_connect) else {
        return next.run(request).await;
    };
    warn!(method = %request.method(), target = %request.uri(), ?refusal, "odd request refused");
    let api = request.uri().path().starts_with("/hub/api");
    let (status, message) = match refusal {
        Refusal::NotAPath => (StatusCode::BAD_REQUEST, "The request target must be a path."),
        Refusal::Method => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
    };
    let mut response = if api {
        ApiError::new(status, message).into_response()
    } else {
        (status, format!("{message}\n")).into_response()
    };
    if refusal == Refusal::Method {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static(ALLOWED));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge1(method: &str, target: &str) -> Option<Refusal> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        judge(Version::HTTP_11, &method, &target.parse().unwrap(), false)
    }

    #[test]
    fn origin_form_requests_with_served_methods_pass() {
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            assert_eq!(judge1(method, "/hub/api/users?limit=1"), None, "{method}");
        }
    }

    #[test]
    fn other_forms_and_methods_are_refused() {
        assert_eq!(judge1("CONNECT", "127.0.0.1:22"), Some(Refusal::Method));
        assert_eq!(judge1("GET", "http://evil.example/hub/"), Some(Refusal::NotAPath));
        assert_eq!(judge1("OPTIONS", "*"), Some(Refusal::NotAPath));
        assert_eq!(judge1("TRACE", "/hub/"), Some(Refusal::Method));
        assert_eq!(judge1("PROPFIND", "/user/alice/"), Some(Refusal::Method));
    }

    #[test]
    fn http2_targets_carry_an_authority_and_websockets_use_extended_connect() {
        let uri = "http://127.0.0.1:8000/hub/home".parse().unwrap();
        assert_eq!(judge(Version::HTTP_2, &Method::GET, &uri, false), None);
        let ws = "http://127.0.0.1:8000/user/alice/api/kernels/k/channels".parse().unwrap();
        assert_eq!(judge(Version::HTTP_2, &Method::CONNECT, &ws, true), None);
        assert_eq!(judge(Version::HTTP_2, &Method::CONNECT, &ws, false), Some(Refusal::Method));
    }
}
