//! `/services/{name}/…` to the service's `url`, the path unchanged (as JupyterHub's proxy does).
//! The hub does not gate it: a service that serves people signs them in itself, through the
//! hub's OAuth provider (its client is `service-NAME`). The hub's session cookie never reaches
//! it. Websockets are relayed as to users' servers (from the hub's own origin or an allowed one);
//! one that a signed-in person with `access:services` on the service opens is closed when their
//! session or that access ends.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hub::spawner::Upstream;

use super::{forward, origin, pages, websocket, ProxyState};

pub async fn handle(State(state): State<ProxyState>, request: Request) -> Response {
    let path = request.uri().path();
    let rest = path.strip_prefix("/services/").unwrap_or_default();
    let (name, below) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(service) = state.hub.services().get(name) else {
        return pages::error(StatusCode::NOT_FOUND, "There is no such service.");
    };
    let Some(addr) = service.config.socket_addr() else {
        return pages::error(StatusCode::NOT_FOUND, "This service has no web address.");
    };
    if !rest.contains('/') {
        return Redirect::permanent(&format!("/services/{name}/")).into_response();
    }
    if below.split('/').any(|s| s == ".." || s == ".") {
        return pages::error(StatusCode::BAD_REQUEST, "There is nothing here.");
    }
    let verdict = origin::judge(state.hub.config(), request.headers());
    let upstream = Upstream::http(addr.ip(), addr.port());
    if websocket::is_upgrade(&request) {
        if verdict == origin::Verdict::Refused {
            tracing::warn!(service.name = %name, "websocket to a service from another origin refused");
            return pages::error(StatusCode::FORBIDDEN, "Websockets from other sites are refused.");
        }
        // Subscribed before the check, so that no change between the two is missed.
        let changes = state.hub.access().subscribe();
        let watch = match request.extensions().get::<hub::access::Session>() {
            Some(session) => match hub::access::may_open_service(&state.hub, &session.user, name).await {
                Ok(true) => Some(websocket::ServiceWatch {
                    viewer_id: session.user.id,
                    session_id: session.id,
                    service: name.to_owned(),
                    changes,
                }),
                Ok(false) => None,
                Err(e) => {
                    tracing::warn!(service.name = %name, error = %e, "checking access to a service failed");
                    return pages::error(StatusCode::SERVICE_UNAVAILABLE, "The hub cannot check access now.");
                }
            },
            None => None,
        };
        tracing::debug!(service.name = %name, watched = watch.is_some(), "relaying a websocket to a service");
        return websocket::relay_to_service(state, upstream, request, watch).await;
    }
    tracing::debug!(service.name = %name, "proxying to a service");
    forward::send(&state, &upstream, None, &verdict, request).await
}
