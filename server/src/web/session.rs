//! Resolves the session cookie into the signed-in user, stored as a request extension
//! ([`app::session::ssr::Authenticated`]) for page guards and server functions.

use app::session::ssr::{cookie_in, Authenticated};
use app::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::warn;

pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let cookie_name = &state.hub.config().session.cookie_name;
    let presented = cookie_in(request.headers(), cookie_name);
    if let Some(token) = presented {
        match hub::access::session(&state.hub, &token).await {
            Ok(Some(session)) => {
                // The user for pages and server functions; the whole session for the proxy's grants.
                request.extensions_mut().insert(Authenticated(session.user.clone()));
                request.extensions_mut().insert(session);
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "session lookup failed; treating the request as signed out"),
        }
    }
    next.run(request).await
}
