//! `GET /hub/api/users/{name}/server[s/{server}]/progress`: server-sent events while a server
//! starts, as JupyterHub sends them (`data: {"progress": …, "message": …}`; the last one has
//! `"ready": true` with the server's `url`, or `"failed": true`), with keep-alives.

use std::convert::Infallible;
use std::time::Duration;

use app::state::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use hub::domain::ServerName;
use hub::scopes::{Resource, Scope};
use hub::servers::progress::ProgressEvent;
use tokio_stream::wrappers::BroadcastStream;

use super::auth::Caller;
use super::error::ApiError;
use super::users::{existing, lookup};

/// Who may follow: a token or session with `read:servers` on the server (owners and admins).
pub async fn default_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Response {
    respond(state, caller, name, String::new()).await
}

pub async fn named_server(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, server)): Path<(String, String)>,
) -> Response {
    respond(state, caller, name, server).await
}

async fn respond(state: AppState, caller: Caller, name: String, server: String) -> Response {
    match follow(state, caller, name, server).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn follow(state: AppState, caller: Caller, name: String, server: String) -> Result<Response, ApiError> {
    let (found, groups) = lookup(&state, &name).await?;
    caller.require(Scope::ReadServers, Resource::Server { user: &name, server: &server, groups: &groups })?;
    let owner = existing(found, &name)?;
    let Ok(server) = ServerName::parse(&server) else {
        return Err(ApiError::not_found("No such server."));
    };
    let hub = &state.hub;
    let info = hub::servers::get(hub, &owner, &server)
        .await?
        .ok_or_else(|| ApiError::not_found("No such server."))?;
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
            None if info.state == hub::servers::ServerState::Running => {
                Box::pin(stream::iter([ProgressEvent::ready(info.url.clone())]))
            }
            None => Box::pin(stream::iter([ProgressEvent::failed(format!("The server is {}.", info.state))])),
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
    })
    // A stopping hub ends the stream (the browser's EventSource reconnects, to the next hub).
    .take_until(state.hub.stopping());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))).into_response())
}
