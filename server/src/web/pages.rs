//! Page-level access rules, enforced before any page renders: signed-out people are sent to the
//! sign-in page, non-admins get 403 on admin pages, signed-in people skip the sign-in page.

use app::session::ssr::Authenticated;
use app::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hub::domain::LocalPath;

/// Pages that need a signed-in user.
const SIGNED_IN_PAGES: &[&str] = &[
    "/hub/home",
    "/hub/account",
    "/hub/admin",
    "/hub/spawn-pending",
    "/hub/token",
    "/hub/usage",
    "/hub/spawn",
    "/hub/user-redirect",
];
/// Pages only for admins (a subset of the above).
const ADMIN_PAGES: &[&str] = &["/hub/admin"];

pub async fn to_home() -> Redirect {
    Redirect::to("/hub/home")
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return next.run(request).await;
    }
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let user = request.extensions().get::<Authenticated>().map(|a| a.0.clone());
    if path == "/hub/login" && user.is_some() {
        return Redirect::to("/hub/home").into_response();
    }
    if path == "/hub/login" {
        if let Some(to) = auto_login(&state, request.uri().query().unwrap_or_default()) {
            return Redirect::to(&to).into_response();
        }
    }
    let needs_user = SIGNED_IN_PAGES.iter().any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if needs_user {
        let Some(user) = user else {
            let next = LocalPath::or_home(Some(&path));
            return Redirect::to(&format!("/hub/login?next={}", encode_query_value(next.as_str())))
                .into_response();
        };
        let admin_page = ADMIN_PAGES.iter().any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if admin_page && !hub::access::is_admin(&state.hub, &user).await.unwrap_or(false) {
            let body = format!("<p>This page is for administrators.</p>{}", super::html::TO_DASHBOARD);
            return super::html::page(StatusCode::FORBIDDEN, "Forbidden", &body);
        }
    }
    next.run(request).await
}

pub use app::session::encode_query_value;

/// With `auth.oidc.auto_login`, the login page sends people straight to the provider, keeping
/// `next` — unless they asked for the password form (`?local`).
fn auto_login(state: &AppState, query: &str) -> Option<String> {
    let oidc = state.hub.oidc()?;
    if !oidc.config().auto_login {
        return None;
    }
    let mut next = None;
    let pairs: Vec<(String, String)> = query_pairs(query);
    for (key, value) in pairs {
        match key.as_str() {
            "local" if state.hub.config().auth.local.enabled => return None,
            "next" => next = Some(value),
            _ => {}
        }
    }
    Some(match next.filter(|n| !n.is_empty()) {
        Some(n) => {
            let next = LocalPath::or_home(Some(&n));
            let encoded: String = next
                .as_str()
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("/hub/oauth_login?next={encoded}")
        }
        None => "/hub/oauth_login".to_owned(),
    })
}

/// The decoded `key=value` pairs of a query string (malformed input gives none).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    axum::http::Uri::try_from(format!("/?{query}"))
        .ok()
        .and_then(|uri| axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).ok())
        .map(|q| q.0)
        .unwrap_or_default()
}
