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
use hub::access::Bearer;
use hub::accounts::User;
use hub::scopes::{Access, Resource, Scope, Scopes};
use hub::tokens::TokenInfo;
use std::sync::Arc;

use super::error::ApiError;

pub struct Caller {
    pub who: Holder,
    pub scopes: Arc<Scopes>,
    pub token: Option<TokenInfo>,
    /// How the audit log names the caller: the user's name, or `service:NAME`.
    actor: String,
}

/// Whose credentials a request carries.
pub enum Holder {
    User(User),
    Service(Arc<hub::services::Service>),
}

impl Caller {
    fn of_user(user: User, scopes: Arc<Scopes>, token: Option<TokenInfo>) -> Self {
        Self { actor: user.name.to_string(), who: Holder::User(user), scopes, token }
    }

    fn of_service(service: Arc<hub::services::Service>) -> Self {
        Self {
            actor: format!("service:{}", service.name()),
            scopes: Arc::clone(&service.scopes),
            who: Holder::Service(service),
            token: None,
        }
    }

    /// The caller's name in the audit log.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The calling user; a service asking for what only a user has (its own tokens, say) is
    /// refused.
    pub fn user(&self) -> Result<&User, ApiError> {
        match &self.who {
            Holder::User(user) => Ok(user),
            Holder::Service(_) => Err(ApiError::forbidden("A service cannot do this; a user's token can")),
        }
    }

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
            return match hub::access::bearer(&state.hub, &token).await? {
                Some(Bearer::User(who)) => {
                    let who = *who;
                    Ok(Caller::of_user(who.user, who.scopes, Some(who.token)))
                }
                Some(Bearer::Service(service)) => Ok(Caller::of_service(service)),
                None => Err(ApiError::forbidden("Missing or invalid credentials")),
            };
        }
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(user)) => {
                Ok(Caller::of_user(user.clone(), hub::access::scopes_of(&state.hub, user).await?, None))
            }
            None => Err(ApiError::forbidden("Missing or invalid credentials")),
        }
    }
}
