//! Who is calling the API and with which scopes: a token (`Authorization: token …` or
//! `Bearer …`), else the browser session (cross-site requests were already refused by the CSRF
//! layer). When an `Authorization` header is present, only the token counts.

use app::session::ssr::Authenticated;
use app::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use hub::accounts::User;
use hub::scopes::{Access, Resource, Scope, Scopes};
use hub::tokens::TokenInfo;

use super::error::ApiError;

pub struct Caller {
    pub user: User,
    pub scopes: Scopes,
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

/// The token of `Authorization: token …` / `Bearer …`, if the header is there (the proxy uses it too).
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<Result<String, ApiError>> {
    let value = headers.get(AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(ApiError::forbidden("Invalid Authorization header")));
    };
    let (kind, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if kind.eq_ignore_ascii_case("token") || kind.eq_ignore_ascii_case("bearer") {
        Some(Ok(token.trim().to_owned()))
    } else {
        Some(Err(ApiError::forbidden("Authorization must be 'token <token>' or 'Bearer <token>'")))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(token) = presented_token(&parts.headers) {
            let token = token?;
            return match hub::tokens::authenticate(state.hub.db(), &token).await? {
                Some((user, scopes, info)) => Ok(Caller { user, scopes, token: Some(info) }),
                None => Err(ApiError::forbidden("Missing or invalid credentials")),
            };
        }
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(user)) => Ok(Caller {
                scopes: Scopes::for_user(user.name.as_str(), user.is_admin),
                user: user.clone(),
                token: None,
            }),
            None => Err(ApiError::forbidden("Missing or invalid credentials")),
        }
    }
}
