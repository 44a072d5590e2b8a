//! `/hub/oauth_login` and `/hub/oauth_callback`: the browser's side of OpenID Connect sign-in.
//! The login route records the attempt and sends the browser to the provider with a cookie that
//! binds the attempt's `state` to it; the callback checks everything (see `hub::oidc`), lets the
//! person in under the allow rules, and starts a session. Every failure is a page that says what
//! went wrong, and no session.

use app::session::ssr::{cookie_in, hub_cookie, session_cookie};
use app::state::AppState;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hub::domain::LocalPath;
use hub::oidc::{Callback, OidcError, STATE_COOKIE};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

use super::html::escape;

/// The page shown when sign-in through the provider cannot go on.
pub fn failure_page(status: StatusCode, message: &str, local_login: bool) -> Response {
    let other = if local_login {
        "<p><a href=\"/hub/login?local=1\">Sign in with a user name and password</a></p>"
    } else {
        ""
    };
    let body = format!(
        "<p class=\"notice error\" role=\"alert\" data-testid=\"oidc-error\">{}</p>\
         <p><a href=\"/hub/oauth_login\">Try again</a></p>{other}",
        escape(message)
    );
    super::html::page(status, "Sign-in failed", &body)
}

fn status_of(e: &OidcError) -> StatusCode {
    match e {
        OidcError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::NotAllowed(_) | OidcError::Blocked(_) | OidcError::LocalAccountExists(_) => {
            StatusCode::FORBIDDEN
        }
        OidcError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn state_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    hub_cookie(state.hub.config(), STATE_COOKIE, value, "/hub/oauth_callback", max_age)
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, location);
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// `GET /hub/oauth_login?next=…`: off to the provider.
pub async fn login(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let local = state.hub.config().auth.local.enabled;
    let Some(oidc) = state.hub.oidc() else {
        return failure_page(
            StatusCode::NOT_FOUND,
            "Sign-in with OpenID Connect is not set up on this hub.",
            local,
        );
    };
    let next = LocalPath::or_home(query.next.as_deref());
    match oidc.begin(&state.hub, next.as_str()).await {
        Ok((url, oidc_state)) => redirect(&url, &[state_cookie(&state, &oidc_state, 600)]),
        Err(e) => {
            tracing::warn!(error = %e, "OpenID Connect sign-in could not start");
            failure_page(status_of(&e), &e.to_string(), local)
        }
    }
}

/// `GET /hub/oauth_callback?code=…&state=…`: back from the provider.
#[tracing::instrument(skip_all)]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let hub = &state.hub;
    let config = hub.config();
    let local = config.auth.local.enabled;
    let Some(oidc) = hub.oidc() else {
        return failure_page(
            StatusCode::NOT_FOUND,
            "Sign-in with OpenID Connect is not set up on this hub.",
            local,
        );
    };
    let cookie_state = cookie_in(&headers, STATE_COOKIE);
    let outcome = async {
        let verified = oidc.finish(hub, cookie_state.as_deref(), query).await?;
        let user = hub::oidc::sign_in(hub, oidc.config(), &verified.identity)
            .await
            .map_err(|e| (e, Some(verified.identity.name.to_string())));
        match user {
            Ok(user) => Ok((user, verified)),
            Err((e, name)) => Err(Refused(e, name)),
        }
    }
    .await;
    let clear_state = state_cookie(&state, "", 0);
    let (user, verified) = match outcome {
        Ok(done) => done,
        Err(Refused(e, name)) => {
            tracing::warn!(user.name = name.as_deref().unwrap_or("?"), error = %e, "OpenID Connect sign-in refused");
            if let Err(write) = hub::oidc::record_refusal(hub, name.as_deref(), &e).await {
                tracing::warn!(error = %write, "the refused sign-in could not be written to the audit log");
            }
            let mut page = failure_page(status_of(&e), &e.to_string(), local);
            if let Ok(value) = HeaderValue::from_str(&clear_state) {
                page.headers_mut().append(SET_COOKIE, value);
            }
            return page;
        }
    };
    let max_age = config.session.max_age_seconds;
    match hub::sessions::create(hub, &user, max_age, Some(&verified.id_token)).await {
        Ok(session) => redirect(
            // Checked when the attempt began; checked again, as every `next` is, before it is followed.
            LocalPath::or_home(Some(&verified.next_path)).as_str(),
            &[session_cookie(config, session.token.expose(), max_age), clear_state],
        ),
        Err(e) => {
            tracing::error!(error = %e, "session could not be created");
            failure_page(StatusCode::INTERNAL_SERVER_ERROR, "The hub could not start your session.", local)
        }
    }
}

/// A refusal and, when known, whom it concerned.
struct Refused(OidcError, Option<String>);

impl From<OidcError> for Refused {
    fn from(e: OidcError) -> Self {
        Refused(e, None)
    }
}
