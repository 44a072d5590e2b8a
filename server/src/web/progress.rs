//! `GET /hub/api/users/{name}/server[s/{server}]/progress`: server-sent events while a server
//! starts, as JupyterHub sends them (`data: {"progress": …, "message": …}`; the last one has
//! `"ready": true` with the server's `url`, or `"failed": true`), with keep-alives.

use std::convert::Infallible;
use std::time::Duration;

use app::session::ssr::Authenticated;
use app::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use hub::domain::{ServerName, UserName};
use hub::servers::progress::ProgressEvent;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;

pub async fn default_server(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    respond(state, name, String::new(), request).await
}

pub async fn named_server(
    State(state): State<AppState>,
    Path((name, server)): Path<(String, String)>,
    request: Request,
) -> Response {
    respond(state, name, server, request).await
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "status": status.as_u16(), "message": message }))).into_response()
}

async fn respond(state: AppState, name: String, server: String, request: Request) -> Response {
    let Some(viewer) = request.extensions().get::<Authenticated>().map(|a| a.0.clone()) else {
        return api_error(StatusCode::FORBIDDEN, "Not signed in.");
    };
    let (Ok(name), Ok(server)) = (UserName::parse(&name), ServerName::parse(&server)) else {
        return api_error(StatusCode::NOT_FOUND, "No such user or server.");
    };
    if viewer.name != name && !viewer.is_admin {
        return api_error(StatusCode::NOT_FOUND, "No such user or server.");
    }
    let hub = &state.hub;
    let owner = match hub::accounts::find(hub.db(), &name).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return api_error(StatusCode::NOT_FOUND, "No such user."),
        Err(e) => {
            tracing::error!(error = %e, "progress lookup failed");
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
        }
    };
    let info = match hub::servers::get(hub, &owner, &server).await {
        Ok(Some(info)) => info,
        Ok(None) => return api_error(StatusCode::NOT_FOUND, "No such server."),
        Err(e) => {
            tracing::error!(error = %e, "progress lookup failed");
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
        }
    };
    let events: std::pin::Pin<Box<dyn Stream<Item = ProgressEvent> + Send>> =
        match hub.progress().subscribe(info.id) {
            Some((history, live)) => {
                let finished = history.iter().any(ProgressEvent::is_final);
                let live = BroadcastStream::new(live).filter_map(|e| async move { e.ok() });
                if finished {
                    Box::pin(stream::iter(history))
                } else {
                    Box::pin(stream::iter(history).chain(live))
                }
            }
            None if info.status == "running" => Box::pin(stream::iter([ProgressEvent {
                progress: 100,
                message: "Server ready".into(),
                ready: true,
                failed: false,
                url: Some(info.url.clone()),
            }])),
            None => Box::pin(stream::iter([ProgressEvent {
                progress: 100,
                message: format!("The server is {}.", info.status),
                ready: false,
                failed: true,
                url: None,
            }])),
        };
    // End the stream right after the final event.
    let stream = stream::unfold((events, false), |(mut events, done)| async move {
        if done {
            return None;
        }
        let event = events.next().await?;
        let done = event.is_final();
        Some((event, (events, done)))
    })
    .map(|event| {
        Ok::<_, Infallible>(Event::default().data(serde_json::to_string(&event).unwrap_or_default()))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))).into_response()
}
