//! The proxy's own answers: small HTML pages that say what happened.

use axum::http::StatusCode;
use axum::response::Response;
use hub::domain::{ServerName, UserName};
use hub::Hub;

use crate::web::html::{escape, TO_DASHBOARD};

pub use crate::web::pages::encode_query_value as encode;

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    crate::web::html::page(status, title, &format!("{body}{TO_DASHBOARD}"))
}

pub fn error(status: StatusCode, message: &str) -> Response {
    page(status, status.canonical_reason().unwrap_or("Error"), &format!("<p>{}</p>", escape(message)))
}

pub fn upstream_down(detail: &str) -> Response {
    page(
        StatusCode::BAD_GATEWAY,
        "Your server is not answering",
        &format!(
            "<p>The notebook server did not answer ({}). It may have stopped or crashed; stop and start it again from the dashboard.</p>",
            escape(detail)
        ),
    )
}

/// The server for this path is not running: say so, with a way to start it.
pub async fn not_running(hub: &Hub, user: &UserName, rest: &[&str]) -> Response {
    // The first segment may name a server; otherwise it is the default server.
    let named = rest.first().and_then(|s| ServerName::parse(s).ok()).filter(|s| !s.is_default());
    let mut state = hub::servers::ServerState::Stopped;
    let mut name = ServerName::default_server();
    if let Ok(Some(owner)) = hub::users::find(hub, user).await {
        for candidate in named.iter().chain(std::iter::once(&ServerName::default_server())) {
            if let Ok(Some(info)) = hub::servers::get(hub, &owner, candidate).await {
                state = info.state;
                name = info.name;
                break;
            }
        }
    }
    let label = if name.is_default() { "Your default server".to_owned() } else { format!("Server {name}") };
    let starting = matches!(state, hub::servers::ServerState::Queued | hub::servers::ServerState::Pending);
    let body = if starting {
        "<p>It is starting; this page will work once it is ready.</p>".to_owned()
    } else {
        "<p>Start it from the dashboard, then open it again.</p>\
         <p><a class=\"button\" href=\"/hub/home\">Start it</a></p>"
            .to_owned()
    };
    page(StatusCode::SERVICE_UNAVAILABLE, &format!("{label} is not running"), &body)
}
