//! The one HTML shape of the hub's own answers outside Leptos (the proxy's pages, a refused
//! OpenID Connect sign-in, the admin guard, a panic): a card with a title, a body and a way on.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Text made safe to place in HTML content or a quoted attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A page titled `title` (escaped here) around `body`, markup the caller built from escaped parts.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let title = escape(title);
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/pkg/ganymede.css\"></head><body><main class=\"page\">\
         <section class=\"card narrow\"><h1>{title}</h1>{body}</section></main></body></html>"
    );
    (status, Html(html)).into_response()
}

/// A domain error as a page: the status its class gets in the REST API (the one mapping) and its
/// words; an internal error is logged there and answered in general terms.
pub fn refusal<E: hub::error::Classify>(title: &str, error: E) -> Response {
    let e = crate::api::error::ApiError::from(error);
    page(e.status, title, &format!("<p>{}</p>{TO_DASHBOARD}", escape(&e.message)))
}

/// The link back to the dashboard most pages end with.
pub const TO_DASHBOARD: &str = "<p><a href=\"/hub/home\">Go to your dashboard</a></p>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }
}
