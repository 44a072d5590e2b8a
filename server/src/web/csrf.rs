//! Cross-site request protection for every state-changing request.
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current browsers) or `Origin`.
//! A POST/PUT/PATCH/DELETE is refused with 403 when either says it comes from another site.
//! Requests with neither header come from non-browser clients, which carry no ambient cookies
//! from a victim's browser. Together with `SameSite=Lax` cookies this closes CSRF.
//!
//! One exemption: a REST API request (`/hub/api/…`) that carries `Authorization: token …` or
//! `Bearer …`. The API then authenticates from that header alone, never from the cookie
//! ([`crate::api::auth::Caller`]), so a forged request with a bogus header is refused there and
//! a cross-site script gains nothing it did not already hold. Any other `Authorization` header,
//! and any such header on pages, server functions (`/hub/fn/…`) or the proxy, changes nothing:
//! those are authenticated by the cookie.

use axum::extract::Request;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

/// Where the API's token authentication applies.
const API_PREFIX: &str = "/hub/api/";

pub async fn protect(request: Request, next: Next) -> Response {
    if is_safe_method(request.method())
        || is_token_authenticated_api(request.uri().path(), request.headers())
        || is_same_origin(request.headers())
    {
        return next.run(request).await;
    }
    warn!(method = %request.method(), path = %request.uri().path(), "cross-site request refused");
    (StatusCode::FORBIDDEN, "Cross-site request refused.\n").into_response()
}

/// Whether the API will authenticate this request by its `Authorization` header alone.
fn is_token_authenticated_api(path: &str, headers: &HeaderMap) -> bool {
    path.starts_with(API_PREFIX) && crate::api::auth::has_token_scheme(headers)
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
    fn only_api_requests_with_a_token_scheme_skip_the_check() {
        let token = headers(&[("authorization", "token abc")]);
        let bearer = headers(&[("authorization", "Bearer abc")]);
        assert!(is_token_authenticated_api("/hub/api/users", &token));
        assert!(is_token_authenticated_api("/hub/api/users/alice/tokens", &bearer));
        assert!(!is_token_authenticated_api("/hub/fn/create_token", &token));
        assert!(!is_token_authenticated_api("/hub/home", &bearer));
        assert!(!is_token_authenticated_api("/user/alice/api/contents", &token));
        assert!(!is_token_authenticated_api("/hub/apix", &token));
        assert!(!is_token_authenticated_api("/hub/api/users", &headers(&[("authorization", "Basic eDp4")])));
        assert!(!is_token_authenticated_api("/hub/api/users", &HeaderMap::new()));
    }

    #[test]
    fn requests_without_browser_headers_pass() {
        assert!(is_same_origin(&HeaderMap::new()));
    }
}
