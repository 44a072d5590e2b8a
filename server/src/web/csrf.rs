//! Cross-site request protection for every state-changing request.
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current browsers) or `Origin`.
//! A POST/PUT/PATCH/DELETE is refused with 403 when either says it comes from another site.
//! Requests with neither header come from non-browser clients, which carry no ambient cookies
//! from a victim's browser. Together with `SameSite=Lax` cookies this closes CSRF.

use axum::extract::Request;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

pub async fn protect(request: Request, next: Next) -> Response {
    // A request that carries its own credentials (a token) uses no ambient cookie, and browsers
    // cannot add that header cross-site without a CORS preflight this hub never grants.
    let carries_token = request.headers().contains_key(axum::http::header::AUTHORIZATION);
    if is_safe_method(request.method()) || carries_token || is_same_origin(request.headers()) {
        return next.run(request).await;
    }
    warn!(method = %request.method(), path = %request.uri().path(), "cross-site request refused");
    (StatusCode::FORBIDDEN, "Cross-site request refused.\n").into_response()
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's own headers say it is same-origin (or say nothing).
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), headers.get(HOST).map(|h| h.to_str())) else {
        return false;
    };
    match origin.split_once("://") {
        Some((scheme, authority)) if scheme == "http" || scheme == "https" => {
            authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_fetch_metadata_is_allowed() {
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "none")])));
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn origin_must_match_host() {
        assert!(is_same_origin(&headers(&[("origin", "http://127.0.0.1:8000"), ("host", "127.0.0.1:8000")])));
        assert!(!is_same_origin(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:8000")])));
        assert!(!is_same_origin(&headers(&[("origin", "null"), ("host", "127.0.0.1:8000")])));
    }

    #[test]
    fn requests_without_browser_headers_pass() {
        assert!(is_same_origin(&HeaderMap::new()));
    }
}
