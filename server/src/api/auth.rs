//! Who is calling the API and with which scopes: a token (`Authorization: token …` or
//! `Bearer …`), else the browser session (cross-site requests were already refused by the CSRF
//! layer). When an `Authorization` header is present, only the token counts: a bad or unknown
//! one is refused, never answered with the cookie's identity.

use app::session::ssr::Authenticated;
use app::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use hub::accounts::User;
use hub::scopes::{Access, Resource, Scope, Scopes};
use hub::tokens::TokenInfo;
use std::sync::Arc;

use super::error::ApiError;

pub struct Caller {
    pub user: User,
    pub scopes: Arc<Scopes>,
    pub token: Option<TokenInfo>,
}

impl Caller {
    /// The one authorisation call at the top of a handler: 403 without the scope, 404 when its
    /// filters hide the resource.
    pub fn require(&self, scope: Scope, resource: Resource<'_>) -> Result<(), ApiError> {
        match self.scopes.check(scope, resource) {
            Access::Allowed => Ok(()),
            Access::Hidden => Err(ApiError::not_found("Not found")),
            Access::Denied => Err(ApiError::forbidden(format!(
                "Action is not authorized with current scopes; requires any of [{scope}]"
            ))),
        }
    }
}

/// The credential of an `Authorization` header, if it has one of the API's schemes.
fn token_of(value: &str) -> Option<&str> {
    let value = value.trim();
    let (kind, token) = value.split_once(' ').unwrap_or((value, ""));
    (kind.eq_ignore_ascii_case("token") || kind.eq_ignore_ascii_case("bearer")).then(|| token.trim())
}

/// Whether the request carries `Authorization: token …` or `Bearer …`: the API authenticates such
/// a request by that header alone (the CSRF layer relies on this).
pub fn has_token_scheme(headers: &HeaderMap) -> bool {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(token_of).is_some()
}

/// The token of `Authorization: token …` / `Bearer …`, if the header is there (the proxy uses it too).
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<Result<String, ApiError>> {
    let value = headers.get(AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(ApiError::forbidden("Invalid Authorization header")));
    };
    match token_of(value) {
        Some(token) => Some(Ok(token.to_owned())),
        None => Some(Err(ApiError::forbidden("Authorization must be 'token <token>' or 'Bearer <token>'"))),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(token) = presented_token(&parts.headers) {
            let token = token?;
            return match hub::access::token(&state.hub, &token).await? {
                Some(who) => Ok(Caller { user: who.user, scopes: who.scopes, token: Some(who.token) }),
                None => Err(ApiError::forbidden("Missing or invalid credentials")),
            };
        }
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(user)) => Ok(Caller {
                scopes: hub::access::scopes_of(&state.hub, user).await?,
                user: user.clone(),
                token: None,
            }),
            None => Err(ApiError::forbidden("Missing or invalid credentials")),
        }
    }
}
