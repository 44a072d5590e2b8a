//! JupyterHub's list paging: `offset`/`limit` in the query; with the
//! `application/jupyterhub-pagination+json` `Accept` header the answer is
//! `{"items": […], "_pagination": {offset, limit, total, next}}`, whose `next.url` is the absolute
//! URL of the next page with every other parameter of the request kept. Without that header the
//! answer is the bare list and the default page is the largest one, as JupyterHub's, so scripts
//! that predate paging miss nobody.

use axum::http::header::{ACCEPT, HOST};
use axum::http::{HeaderMap, Uri};
use hub::config::Config;
use serde_json::{json, Value};

use super::error::ApiError;

/// Page size when the client asked for the paging envelope but gave no `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page; also the page size for clients that do not ask for the envelope.
pub const MAX_LIMIT: i64 = 200;
/// The `Accept` type that asks for the envelope.
pub const PAGINATION_MEDIA_TYPE: &str = "application/jupyterhub-pagination+json";

/// The window a list request asks for, already validated and capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
    /// Whether the client asked for the `{items, _pagination}` envelope.
    pub envelope: bool,
}

impl Page {
    /// From the request's `offset`, `limit` and `Accept`: 400 for a negative offset or a limit
    /// below 1; a limit above [`MAX_LIMIT`] is capped.
    pub fn from_request(
        offset: Option<i64>,
        limit: Option<i64>,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let envelope = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(PAGINATION_MEDIA_TYPE));
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        let limit = limit.unwrap_or(if envelope { DEFAULT_LIMIT } else { MAX_LIMIT });
        if limit < 1 {
            return Err(ApiError::bad_request("limit must be at least 1"));
        }
        Ok(Self { offset, limit: limit.min(MAX_LIMIT), envelope })
    }

    /// The answer: the bare list, or the envelope with the absolute URL of the next page.
    pub fn respond(&self, items: Vec<Value>, total: i64, base: &str, uri: &Uri) -> Value {
        if !self.envelope {
            return Value::Array(items);
        }
        let next_offset = self.offset + items.len() as i64;
        let next = (!items.is_empty() && next_offset < total).then(|| {
            json!({
                "offset": next_offset,
                "limit": self.limit,
                "url": next_url(base, uri, next_offset, self.limit),
            })
        });
        json!({
            "items": items,
            "_pagination": { "offset": self.offset, "limit": self.limit, "total": total, "next": next },
        })
    }
}

/// `scheme://host[:port]` as the client reached the hub: `hub.public_url` when set, else the
/// request's `X-Forwarded-Proto`/`X-Forwarded-Host` (a proxy in front) or `Host`, else the bind
/// address. A header that is not a plain host is ignored.
pub fn public_base(config: &Config, headers: &HeaderMap) -> String {
    if let Some(url) = config.hub.public_url() {
        return url.origin();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = match header("x-forwarded-proto").map(str::to_ascii_lowercase).as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let host = header("x-forwarded-host")
        .filter(|h| is_plain_host(h))
        .or_else(|| header(HOST.as_str()).filter(|h| is_plain_host(h)))
        .map(str::to_owned)
        .unwrap_or_else(|| config.hub.bind.to_string());
    format!("{scheme}://{host}")
}

/// A host with an optional port and nothing else (no user info, path, query or spaces).
fn is_plain_host(host: &str) -> bool {
    host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

/// The request's URL with `offset` and `limit` replaced and every other parameter kept as sent.
fn next_url(base: &str, uri: &Uri, offset: i64, limit: i64) -> String {
    let mut params: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key != "offset" && key != "limit"
        })
        .collect();
    let window = format!("offset={offset}&limit={limit}");
    params.push(&window);
    format!("{base}{}?{}", uri.path(), params.join("&"))
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
    fn without_the_envelope_the_default_page_is_the_largest() {
        let page = Page::from_request(None, None, &HeaderMap::new()).unwrap();
        assert_eq!(page, Page { offset: 0, limit: MAX_LIMIT, envelope: false });
        let page = Page::from_request(None, None, &headers(&[("accept", PAGINATION_MEDIA_TYPE)])).unwrap();
        assert_eq!(page, Page { offset: 0, limit: DEFAULT_LIMIT, envelope: true });
        assert_eq!(Page::from_request(None, Some(5000), &HeaderMap::new()).unwrap().limit, MAX_LIMIT);
        assert!(Page::from_request(Some(-1), None, &HeaderMap::new()).is_err());
        assert!(Page::from_request(None, Some(0), &HeaderMap::new()).is_err());
    }

    #[test]
    fn the_next_url_keeps_every_other_parameter() {
        let uri: Uri =
            "/hub/api/users?state=inactive&offset=0&name_filter=a%20b&limit=1&sort=-name".parse().unwrap();
        assert_eq!(
            next_url("https://hub.example.org", &uri, 1, 1),
            "https://hub.example.org/hub/api/users?state=inactive&name_filter=a%20b&sort=-name&offset=1&limit=1"
        );
        let bare: Uri = "/hub/api/groups".parse().unwrap();
        assert_eq!(next_url("http://h", &bare, 50, 50), "http://h/hub/api/groups?offset=50&limit=50");
    }

    #[test]
    fn the_base_comes_from_the_public_url_then_forwarded_headers_then_host() {
        let mut config = Config::default();
        let forwarded = headers(&[
            ("host", "127.0.0.1:8000"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "hub.example.org"),
        ]);
        assert_eq!(public_base(&config, &forwarded), "https://hub.example.org");
        assert_eq!(public_base(&config, &headers(&[("host", "127.0.0.1:8000")])), "http://127.0.0.1:8000");
        // Not a host: ignored.
        let odd = headers(&[("host", "127.0.0.1:8000"), ("x-forwarded-host", "evil.example/path")]);
        assert_eq!(public_base(&config, &odd), "http://127.0.0.1:8000");
        assert_eq!(public_base(&config, &HeaderMap::new()), "http://127.0.0.1:8000");
        config.hub.public_url = Some("https://public.example/".into());
        assert_eq!(public_base(&config, &forwarded), "https://public.example");
    }
}
