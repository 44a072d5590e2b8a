//! Which browser origins may talk to users' servers through the proxy with the victim's cookie:
//! the hub's own (`hub.public_url`, else `http(s)://{Host}`) and `hub.allowed_origins`.
//!
//! Jupyter never sees a cross-site websocket itself: the proxy adds Jupyter's token, and a token
//! makes Jupyter skip its own Origin check. So the proxy checks, for every proxied path.

use axum::http::header::{ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, HOST, ORIGIN, VARY};
use axum::http::{HeaderMap, HeaderValue};
use hub::config::Config;

/// What the request's `Origin` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin`: not a browser page's request (browsers always send one on upgrades).
    Absent,
    /// The hub's own origin or one configured as allowed (the header's value).
    Allowed(HeaderValue),
    /// Any other origin, `null`, or a malformed header.
    Refused,
}

/// Judges the request's `Origin` header.
pub fn judge(config: &Config, headers: &HeaderMap) -> Verdict {
    let mut values = headers.get_all(ORIGIN).iter();
    let Some(value) = values.next() else { return Verdict::Absent };
    if values.next().is_some() {
        return Verdict::Refused;
    }
    let Ok(origin) = value.to_str() else { return Verdict::Refused };
    let origin = origin.trim().to_ascii_lowercase();
    let own = match config.hub.public_url() {
        Some(url) => Some(url.origin()),
        None => host_origin(headers),
    };
    if own.as_deref() == Some(origin.as_str()) || config.hub.allowed_origins().contains(&origin) {
        Verdict::Allowed(value.clone())
    } else {
        Verdict::Refused
    }
}

/// `http(s)://{Host}` when no public URL is configured. The scheme is the one a TLS-terminating
/// proxy in front reports; a page cannot set these headers on a browser's request itself.
fn host_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(HOST)?.to_str().ok()?.trim().to_ascii_lowercase();
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    let scheme = if proto.is_some_and(|p| p.eq_ignore_ascii_case("https")) { "https" } else { "http" };
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default_port).unwrap_or(&host);
    Some(format!("{scheme}://{host}"))
}

/// Narrows Jupyter's CORS answer (often `Access-Control-Allow-Origin: *`) to the request's origin
/// when that is allowed, and drops it otherwise.
pub fn restrict_cors(response: &mut HeaderMap, verdict: &Verdict) {
    if !response.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
        return;
    }
    match verdict {
        Verdict::Allowed(origin) => {
            response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            response.append(VARY, HeaderValue::from_static("Origin"));
        }
        Verdict::Absent | Verdict::Refused => {
            response.remove(ACCESS_CONTROL_ALLOW_ORIGIN);
            response.remove(ACCESS_CONTROL_ALLOW_CREDENTIALS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn verdict(config: &Config, pairs: &[(&'static str, &'static str)]) -> Verdict {
        judge(config, &headers(pairs))
    }

    #[test]
    fn without_a_public_url_the_host_is_the_origin() {
        let c = Config::default();
        let host = ("host", "127.0.0.1:8000");
        assert!(matches!(verdict(&c, &[host, ("origin", "http://127.0.0.1:8000")]), Verdict::Allowed(_)));
        assert_eq!(verdict(&c, &[host, ("origin", "http://evil.example")]), Verdict::Refused);
        assert_eq!(verdict(&c, &[host, ("origin", "null")]), Verdict::Refused);
        assert_eq!(verdict(&c, &[host, ("origin", "http://127.0.0.1:8001")]), Verdict::Refused);
        assert_eq!(verdict(&c, &[host, ("origin", "https://127.0.0.1:8000")]), Verdict::Refused);
        assert_eq!(
            verdict(&c, &[host, ("origin", "http://127.0.0.1:8000"), ("origin", "http://evil.example")]),
            Verdict::Refused
        );
        assert_eq!(verdict(&c, &[host]), Verdict::Absent);
    }

    #[test]
    fn a_public_url_and_the_allowed_list_decide_when_set() {
        let mut c = Config::default();
        c.hub.public_url = Some("https://hub.example.org/".into());
        c.hub.allowed_origins = vec!["https://lab.example.org".into()];
        let host = ("host", "hub.example.org");
        assert!(matches!(verdict(&c, &[host, ("origin", "https://hub.example.org")]), Verdict::Allowed(_)));
        assert!(matches!(verdict(&c, &[host, ("origin", "https://lab.example.org")]), Verdict::Allowed(_)));
        assert_eq!(verdict(&c, &[host, ("origin", "http://hub.example.org")]), Verdict::Refused);
        // The Host no longer counts once the public URL is known.
        assert_eq!(
            verdict(&c, &[("host", "evil.example"), ("origin", "http://evil.example")]),
            Verdict::Refused
        );
    }

    #[test]
    fn jupyters_wildcard_cors_is_narrowed_or_dropped() {
        let wildcard =
            headers(&[("access-control-allow-origin", "*"), ("access-control-allow-credentials", "true")]);
        let mut refused = wildcard.clone();
        restrict_cors(&mut refused, &Verdict::Refused);
        assert!(refused.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(refused.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let mut allowed = wildcard;
        restrict_cors(&mut allowed, &Verdict::Allowed(HeaderValue::from_static("http://127.0.0.1:8000")));
        assert_eq!(allowed[ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:8000");
    }
}
