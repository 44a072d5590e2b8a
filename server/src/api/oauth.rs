//! `/hub/api/oauth2/authorize` and `/hub/api/oauth2/token`: the hub as OAuth2 provider for its
//! servers (`hub::oauth` holds the rules). The authorize endpoint is a browser page: signed-out
//! people go to the sign-in page and come back; an unknown client or a redirect URI that is not
//! the registered one is an error page (never a redirect). The token endpoint is called by the
//! servers themselves and answers RFC 6749's JSON.

use std::collections::HashMap;

use app::session::ssr::{cookie_in, Authenticated};
use app::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use hub::oauth::{Authorization, AuthorizeRequest, ConsentFor, TokenError, TokenRequest};
use serde_json::json;

use crate::web::html;

pub async fn authorize(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    decide(state, user, headers, uri, q, false).await
}

/// The consent form's answer (`POST` of the same URL; the CSRF layer refuses other sites).
pub async fn consent(
    State(state): State<AppState>,
    user: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    decide(state, user, headers, uri, q, true).await
}

async fn decide(
    state: AppState,
    user: Option<Extension<Authenticated>>,
    headers: HeaderMap,
    uri: Uri,
    q: HashMap<String, String>,
    consented: bool,
) -> Response {
    let Some(Extension(Authenticated(user))) = user else {
        let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/hub/home");
        return Redirect::to(&format!("/hub/login?next={}", app::session::encode_query_value(next)))
            .into_response();
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let request = AuthorizeRequest {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        state: q.get("state").cloned(),
        code_challenge: q.get("code_challenge").cloned().filter(|c| !c.is_empty()),
        code_challenge_method: q.get("code_challenge_method").cloned().filter(|c| !c.is_empty()),
    };
    let cookie = cookie_in(&headers, &state.hub.config().session.cookie_name);
    let session = match cookie {
        Some(value) => hub::oauth::session_of(&state.hub, &value).await.ok().flatten(),
        None => None,
    };
    match hub::oauth::authorize(&state.hub, &user, session, &request, consented).await {
        Ok(Authorization::Redirect(to)) => Redirect::to(&to).into_response(),
        Ok(Authorization::Consent(what)) => {
            let (label, why, title) = match what {
                ConsentFor::Server { owner, server } if server.is_empty() => {
                    (format!("{owner}'s server"), "is shared with you", "Open a shared server")
                }
                ConsentFor::Server { owner, server } => {
                    (format!("{owner}'s server {server}"), "is shared with you", "Open a shared server")
                }
                ConsentFor::Service { name } => {
                    (format!("the service {name}"), "asks who you are", "Sign in to a service")
                }
            };
            let action = html::escape(uri.path_and_query().map(|p| p.as_str()).unwrap_or_default());
            let body = format!(
                "<p><strong>{}</strong> {why}. Open it as <strong>{}</strong>? \
                 It will know your name and groups, and act for you as far as its scopes allow.</p>\
                 <form method=\"post\" action=\"{action}\"><button type=\"submit\" class=\"primary\" \
                 data-testid=\"oauth-consent\">Open {}</button></form>{}",
                html::escape(&label),
                html::escape(user.name.as_str()),
                html::escape(&label),
                html::TO_DASHBOARD
            );
            html::page(StatusCode::OK, title, &body)
        }
        Err(e) => html::refusal("Not authorized", e),
    }
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (mut client_id, mut client_secret) = (get("client_id"), get("client_secret"));
    // Clients may authenticate with HTTP Basic instead (RFC 6749 §2.3.1).
    if let Some((id, secret)) = basic_credentials(&headers) {
        client_id = id;
        client_secret = secret;
    }
    let request = TokenRequest {
        client_id,
        client_secret,
        grant_type: get("grant_type"),
        code: get("code"),
        redirect_uri: get("redirect_uri"),
        code_verifier: form.get("code_verifier").cloned().filter(|v| !v.is_empty()),
    };
    match hub::oauth::exchange(&state.hub, &request).await {
        Ok(issued) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "access_token": issued.access_token.expose(),
                "token_type": "Bearer",
                "expires_in": issued.expires_in_seconds,
                "scope": issued.scopes.join(" "),
            })),
        )
            .into_response(),
        Err(e) => {
            let status = match &e {
                TokenError::InvalidClient => StatusCode::UNAUTHORIZED,
                TokenError::Db(_) => {
                    tracing::error!(error = %hub::error::chain(&e), "an OAuth token exchange failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            let description = match &e {
                TokenError::Db(_) => "the hub could not complete the exchange".to_owned(),
                other => other.to_string(),
            };
            (
                status,
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({ "error": e.code(), "error_description": description })),
            )
                .into_response()
        }
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}
