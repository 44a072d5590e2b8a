//! The URLs JupyterHub's clients and JupyterLab's hub menu use: `GET /hub/logout`,
//! `/hub/user-redirect/PATH` (to the signed-in person's own server, starting it when needed) and
//! `/hub/spawn[/USER[/SERVER]]` (start, with `opt-KEY=value` query parameters as user options,
//! then the progress page). The page guard sends signed-out people to the sign-in page first.

use std::collections::HashMap;

use app::session::ssr::{cookie_in, session_cookie, Authenticated};
use app::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use hub::domain::{LocalPath, ServerName, UserName};
use hub::servers::{Requested, StartOutcome};

use super::html;

/// `GET /hub/logout`: as the page's Sign out (the session and the OAuth tokens it authorized end).
pub async fn logout(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    headers: HeaderMap,
) -> Response {
    let hub = &state.hub;
    let token = cookie_in(&headers, &hub.config().session.cookie_name);
    let user = user.map(|Extension(Authenticated(u))| u);
    let next = match hub::sessions::log_out(hub, token.as_deref(), user.as_ref()).await {
        Ok(next) => next,
        Err(e) => {
            tracing::error!(error = %hub::error::chain(&e), "logging out failed");
            return html::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>Logging out failed; try again.</p>",
            );
        }
    };
    let mut response = Redirect::to(&next).into_response();
    let clear = session_cookie(hub.config(), "", 0);
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /hub/user-redirect/PATH?Q` → `/hub/spawn/ME?next=/user/ME/PATH?Q`.
pub async fn user_redirect(user: Option<Extension<Authenticated>>, uri: Uri) -> Response {
    let Some(Extension(Authenticated(me))) = user else { return Redirect::to("/hub/login").into_response() };
    let rest = uri.path().strip_prefix("/hub/user-redirect").unwrap_or_default().trim_start_matches('/');
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let next = format!("/user/{}/{rest}{query}", me.name);
    Redirect::to(&format!("/hub/spawn/{}?next={}", me.name, app::session::encode_query_value(&next)))
        .into_response()
}

pub async fn spawn_mine(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(Extension(Authenticated(me))) = user else { return Redirect::to("/hub/login").into_response() };
    let name = me.name.to_string();
    spawn(&state, &me, &name, "", &q).await
}

pub async fn spawn_user(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(Extension(Authenticated(me))) = user else { return Redirect::to("/hub/login").into_response() };
    spawn(&state, &me, &name, "", &q).await
}

pub async fn spawn_named(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    Path((name, server)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(Extension(Authenticated(me))) = user else { return Redirect::to("/hub/login").into_response() };
    spawn(&state, &me, &name, &server, &q).await
}

fn refused(status: StatusCode, message: &str) -> Response {
    let body = format!("<p>{}</p>{}", html::escape(message), html::TO_DASHBOARD);
    html::page(status, "Cannot start the server", &body)
}

/// Starts `user`'s `server` (an admin may start anyone's) with the `opt-flavour`/`opt-size`
/// query parameters, else its remembered choice; then the progress page, or `next` when running.
async fn spawn(
    state: &AppState,
    me: &hub::accounts::User,
    user: &str,
    server: &str,
    q: &HashMap<String, String>,
) -> Response {
    let hub = &state.hub;
    let (Ok(owner_name), Ok(server)) = (UserName::parse(user), ServerName::parse(server)) else {
        return refused(StatusCode::NOT_FOUND, "There is no such user or server.");
    };
    let owner = match hub::users::find(hub, &owner_name).await {
        Ok(Some(owner)) => owner,
        // Whether a name exists is only told to those who may start anyone's servers.
        Ok(None) => {
            return match hub::access::may_start_any(hub, me).await {
                Ok(true) => refused(StatusCode::NOT_FOUND, "There is no such user."),
                Ok(false) => refused(StatusCode::FORBIDDEN, "You may not start this server."),
                Err(e) => html::refusal("Cannot start the server", e),
            }
        }
        Err(e) => return html::refusal("Cannot start the server", e),
    };
    // Their own, an admin's, or a role's grant (`servers!group=students`): the access policy says.
    match hub::access::may_start(hub, me, hub::access::ServerRef::of(&owner, server.as_str())).await {
        Ok(hub::scopes::Access::Allowed) => {}
        Ok(_) => return refused(StatusCode::FORBIDDEN, "You may not start this server."),
        Err(e) => return html::refusal("Cannot start the server", e),
    }
    let requested = Requested { flavour: q.get("opt-flavour").cloned(), size: q.get("opt-size").cloned() };
    let base = hub::servers::base_url(&owner.name, &server);
    let next = LocalPath::or_home(q.get("next").map(String::as_str).or(Some(&base))).as_str().to_owned();
    let pending = if server.is_default() {
        format!("/hub/spawn-pending/{}", owner.name)
    } else {
        format!("/hub/spawn-pending/{}/{server}", owner.name)
    };
    match hub::servers::start(hub, Some(me.name.as_str()), &owner, &server, requested).await {
        Ok(StartOutcome::AlreadyRunning) => Redirect::to(&next).into_response(),
        Ok(StartOutcome::Started | StartOutcome::Queued | StartOutcome::AlreadyPending) => {
            Redirect::to(&format!("{pending}?next={}", app::session::encode_query_value(&next)))
                .into_response()
        }
        Err(e) => html::refusal("Cannot start the server", e),
    }
}

/// `GET /hub/accept-share?code=…[&next=…]`: what the link shares, with a button to accept it.
pub async fn accept_share_page(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(Extension(Authenticated(me))) = user else { return Redirect::to("/hub/login").into_response() };
    let code = q.get("code").cloned().unwrap_or_default();
    match hub::sharing::code_target(&state.hub, &code).await {
        Ok((_, _, owner_id)) if owner_id == me.id => {
            refused(StatusCode::FORBIDDEN, "This is a link to your own server; send it to someone else.")
        }
        Ok((owner, server, _)) => {
            let label = if server.is_empty() {
                format!("{owner}'s server")
            } else {
                format!("{owner}'s server {server}")
            };
            let next = q
                .get("next")
                .map(|n| format!("<input type=\"hidden\" name=\"next\" value=\"{}\">", html::escape(n)))
                .unwrap_or_default();
            let body = format!(
                "<p><strong>{}</strong> is shared with you by this link.</p>\
                 <form method=\"post\" action=\"/hub/accept-share\"><input type=\"hidden\" name=\"code\" value=\"{}\">{next}\
                 <button type=\"submit\" class=\"primary\" data-testid=\"accept-share\">Accept and open it</button></form>{}",
                html::escape(&label),
                html::escape(&code),
                html::TO_DASHBOARD
            );
            html::page(StatusCode::OK, "Accept a shared server", &body)
        }
        Err(e) => html::refusal("Cannot accept the share", e),
    }
}

/// `POST /hub/accept-share` (`code`, optional `next`): the server is shared with the person;
/// to `next` (inside that server) or the server itself.
pub async fn accept_share(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let Some(Extension(Authenticated(me))) = user else { return Redirect::to("/hub/login").into_response() };
    let code = form.get("code").cloned().unwrap_or_default();
    match hub::sharing::accept_code(&state.hub, &me, &code).await {
        Ok(url) => {
            let next = form.get("next").filter(|n| n.starts_with(&url)).cloned().unwrap_or(url);
            Redirect::to(&next).into_response()
        }
        Err(e) => html::refusal("Cannot accept the share", e),
    }
}
