//! `GET /hub/metrics` (and `/hub/api/metrics`, as JupyterHub serves both): Prometheus' text
//! format, for a caller with `read:metrics` or an address `[metrics] open_to` lists; and the
//! request-duration layer that observes every request the hub answers itself, under JupyterHub's
//! `handler` names (its Grafana dashboards leave the progress stream out by that name).

use std::net::SocketAddr;
use std::time::Instant;

use app::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hub::scopes::{Resource, Scope};

use crate::api::auth::Caller;
use crate::api::error::ApiError;

pub async fn scrape(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    if !state.hub.config().metrics.open_for(peer.map(|Extension(ConnectInfo(p))| p.ip())) {
        caller?.require(Scope::ReadMetrics, Resource::Hub)?;
    }
    let text = hub::metrics::render(&state.hub).await.map_err(ApiError::internal)?;
    let mut response = text.into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(hub::metrics::CONTENT_TYPE));
    Ok(response)
}

/// Observes each request's duration with its method, handler and status code.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let began = Instant::now();
    let method = request.method().clone();
    let handler = handler_of(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let response = next.run(request).await;
    state.hub.metrics().request(method.as_str(), handler, response.status().as_u16(), began.elapsed());
    response
}

/// JupyterHub's handler class for a route of ours that does its job (`jupyterhub/metrics.py`
/// labels requests by the tornado handler's qualified name); Ganymede's own routes are named
/// `ganymede.` and their path pattern's job.
fn handler_of(matched: Option<&str>) -> &'static str {
    let Some(path) = matched else {
        return "jupyterhub.handlers.base.Template404";
    };
    match path {
        "/hub/api" | "/hub/api/" => "jupyterhub.apihandlers.hub.RootAPIHandler",
        "/hub/api/info" => "jupyterhub.apihandlers.hub.InfoAPIHandler",
        "/hub/api/user" => "jupyterhub.apihandlers.users.SelfAPIHandler",
        "/hub/api/users" => "jupyterhub.apihandlers.users.UserListAPIHandler",
        "/hub/api/users/{name}" => "jupyterhub.apihandlers.users.UserAPIHandler",
        "/hub/api/users/{name}/activity" => "jupyterhub.apihandlers.users.ActivityAPIHandler",
        "/hub/api/users/{name}/server" | "/hub/api/users/{name}/servers/{server}" => {
            "jupyterhub.apihandlers.users.UserServerAPIHandler"
        }
        "/hub/api/users/{name}/server/progress" | "/hub/api/users/{name}/servers/{server}/progress" => {
            hub::metrics::PROGRESS_HANDLER
        }
        "/hub/api/users/{name}/tokens" => "jupyterhub.apihandlers.users.UserTokenListAPIHandler",
        "/hub/api/users/{name}/tokens/{token_id}" => "jupyterhub.apihandlers.users.UserTokenAPIHandler",
        "/hub/api/users/{name}/shared" => "jupyterhub.apihandlers.shares.UserShareListAPIHandler",
        "/hub/api/groups" => "jupyterhub.apihandlers.groups.GroupListAPIHandler",
        "/hub/api/groups/{name}" => "jupyterhub.apihandlers.groups.GroupAPIHandler",
        "/hub/api/groups/{name}/users" => "jupyterhub.apihandlers.groups.GroupUsersAPIHandler",
        "/hub/api/groups/{name}/properties" => "jupyterhub.apihandlers.groups.GroupEditPropertiesAPIHandler",
        "/hub/api/services" => "jupyterhub.apihandlers.services.ServiceListAPIHandler",
        "/hub/api/services/{name}" => "jupyterhub.apihandlers.services.ServiceAPIHandler",
        "/hub/api/shares/{owner}/{server}" | "/hub/api/shares/{owner}/" => {
            "jupyterhub.apihandlers.shares.ServerShareAPIHandler"
        }
        "/hub/api/share-codes/{owner}/{server}" | "/hub/api/share-codes/{owner}/" => {
            "jupyterhub.apihandlers.shares.ServerShareCodeAPIHandler"
        }
        "/hub/api/oauth2/authorize" => "jupyterhub.apihandlers.auth.OAuthAuthorizeHandler",
        "/hub/api/oauth2/token" => "jupyterhub.apihandlers.auth.OAuthTokenHandler",
        "/hub/metrics" | "/hub/api/metrics" => "jupyterhub.handlers.metrics.MetricsHandler",
        "/hub/health" | "/hub/ready" => "jupyterhub.handlers.pages.HealthCheckHandler",
        "/" | "/hub" | "/hub/" => "jupyterhub.handlers.pages.RootHandler",
        "/hub/home" => "jupyterhub.handlers.pages.HomeHandler",
        "/hub/login" => "jupyterhub.handlers.login.LoginHandler",
        "/hub/logout" => "jupyterhub.handlers.login.LogoutHandler",
        "/hub/oauth_login" => "ganymede.oidc.LoginHandler",
        "/hub/oauth_callback" => "ganymede.oidc.CallbackHandler",
        "/hub/token" => "jupyterhub.handlers.pages.TokenPageHandler",
        "/hub/accept-share" => "jupyterhub.handlers.pages.AcceptShareHandler",
        "/hub/user-redirect" | "/hub/user-redirect/{*path}" => "jupyterhub.handlers.base.UserRedirectHandler",
        p if p.starts_with("/hub/spawn-pending") => "jupyterhub.handlers.pages.SpawnPendingHandler",
        p if p.starts_with("/hub/spawn") => "jupyterhub.handlers.pages.SpawnHandler",
        p if p.starts_with("/hub/admin") => "jupyterhub.handlers.pages.AdminHandler",
        p if p.starts_with("/hub/fn/") => "ganymede.pages.ServerFunction",
        p if p.starts_with("/pkg/") || p.starts_with("/assets/") => {
            "jupyterhub.handlers.static.CacheControlStaticFilesHandler"
        }
        p if p.starts_with("/hub/api/") => "jupyterhub.apihandlers.base.API404",
        _ => "ganymede.pages.PageHandler",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_stream_carries_the_name_the_dashboards_leave_out() {
        assert_eq!(handler_of(Some("/hub/api/users/{name}/server/progress")), hub::metrics::PROGRESS_HANDLER);
        assert_eq!(
            handler_of(Some("/hub/api/users/{name}/servers/{server}/progress")),
            hub::metrics::PROGRESS_HANDLER
        );
        assert_eq!(handler_of(Some("/hub/api/users")), "jupyterhub.apihandlers.users.UserListAPIHandler");
        assert_eq!(handler_of(None), "jupyterhub.handlers.base.Template404");
    }
}
