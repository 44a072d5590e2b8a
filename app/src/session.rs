//! Who is signed in, and the server functions that sign people in and out.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the UI knows about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub name: String,
    pub is_admin: bool,
}

/// Percent-encodes everything but unreserved characters and `/`, for a query value (the same on
/// the server and in the browser).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sign-in page settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInSettings {
    pub allow_signup: bool,
    /// Password sign-in is on.
    pub local: bool,
    /// The OpenID Connect button, when configured.
    pub oidc: Option<OidcButton>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcButton {
    pub label: String,
    /// Why the provider cannot be used right now, if it cannot.
    pub outage: Option<String>,
}

/// The current user as a resource, loaded once per page and shared through context.
pub type CurrentUserResource = Resource<Result<Option<SessionUser>, AppError>>;

/// Must be called inside the `<Router>`: the resource is keyed on the path.
pub fn provide_current_user() {
    let location = leptos_router::hooks::use_location();
    let resource: CurrentUserResource = Resource::new(move || location.pathname.get(), |_| whoami());
    provide_context(resource);
}

pub fn use_current_user() -> CurrentUserResource {
    expect_context::<CurrentUserResource>()
}

#[server(prefix = "/hub/fn", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<SessionUser>, AppError> {
    Ok(ssr::current_user().map(|u| SessionUser { name: u.name.to_string(), is_admin: u.is_admin }))
}

#[server(prefix = "/hub/fn", endpoint = "login_options")]
pub async fn login_options() -> Result<SignInSettings, AppError> {
    let hub = crate::state::hub()?;
    let local = &hub.config().auth.local;
    let oidc = match hub.oidc() {
        Some(oidc) => Some(OidcButton {
            label: oidc.config().button_label.clone(),
            outage: oidc.availability().await.err(),
        }),
        None => None,
    };
    Ok(SignInSettings { allow_signup: local.enabled && local.allow_signup, local: local.enabled, oidc })
}

/// Checks the password, starts a session (cookie) and sends the browser to `next` or the home page.
#[server(prefix = "/hub/fn", endpoint = "login")]
pub async fn login(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use hub::accounts;
    let hub = crate::state::hub()?;
    let config = hub.config();
    if !config.auth.local.enabled {
        return Err(AppError::Forbidden("Password sign-in is turned off on this hub.".into()));
    }
    let client = ssr::client();
    let user = accounts::authenticate(&hub, &config.auth.local, &username, &password, &client).await?;
    let session = hub::sessions::create(&hub, &user, config.session.max_age_seconds, None)
        .await
        .map_err(AppError::internal)?;
    ssr::set_session_cookie(config, session.token.expose(), config.session.max_age_seconds);
    leptos_axum::redirect(hub::domain::LocalPath::or_home(next.as_deref()).as_str());
    Ok(())
}

/// Ends the session server-side and clears the cookie.
#[server(prefix = "/hub/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    let hub = crate::state::hub()?;
    let token = ssr::presented_session_token(&hub.config().session.cookie_name);
    let user = ssr::current_user();
    let next =
        hub::sessions::log_out(&hub, token.as_deref(), user.as_ref()).await.map_err(AppError::internal)?;
    ssr::set_session_cookie(hub.config(), "", 0);
    leptos_axum::redirect(&next);
    Ok(())
}

/// Requests an account; it waits for an administrator's approval.
#[server(prefix = "/hub/fn", endpoint = "signup")]
pub async fn signup(username: String, password: String, confirm: String) -> Result<String, AppError> {
    let hub = crate::state::hub()?;
    if !hub.config().auth.local.enabled {
        return Err(AppError::Forbidden("Password accounts are turned off on this hub.".into()));
    }
    if password != confirm {
        return Err(AppError::Invalid("The two passwords differ.".into()));
    }
    let user = hub::accounts::sign_up(&hub, &hub.config().auth.local, &username, &password).await?;
    Ok(format!("Thanks, {}. An administrator will approve your account; then you can sign in.", user.name))
}

/// The signed-in user changes their password.
#[server(prefix = "/hub/fn", endpoint = "change_password")]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<String, AppError> {
    let hub = crate::state::hub()?;
    let user = ssr::require_user()?;
    if new != confirm {
        return Err(AppError::Invalid("The two new passwords differ.".into()));
    }
    hub::accounts::change_password(&hub, &hub.config().auth.local, &user, &current, &new).await?;
    Ok("Your password has been changed.".into())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Request-side helpers: the signed-in user put there by the hub's session middleware, and cookies.

    use axum::http::header::{COOKIE, SET_COOKIE};
    use axum::http::request::Parts;
    use axum::http::HeaderValue;
    use hub::accounts::User;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    use crate::error::AppError;

    /// Request extension set by the session middleware: the user behind a valid session cookie.
    #[derive(Debug, Clone)]
    pub struct Authenticated(pub User);

    pub fn current_user() -> Option<User> {
        use_context::<Parts>().and_then(|parts| parts.extensions.get::<Authenticated>().map(|a| a.0.clone()))
    }

    pub fn require_user() -> Result<User, AppError> {
        current_user().ok_or(AppError::Unauthorized)
    }

    /// The signed-in user when they administer the hub, as `hub::access` says.
    pub async fn require_admin() -> Result<User, AppError> {
        let user = require_user()?;
        let hub = crate::state::hub()?;
        if hub::access::is_admin(&hub, &user).await? {
            Ok(user)
        } else {
            Err(AppError::Forbidden("Only administrators can do that.".into()))
        }
    }

    /// The value of cookie `name` in a `Cookie` header.
    pub fn cookie_value(header: &str, name: &str) -> Option<String> {
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    /// The value of cookie `name` among a request's `Cookie` headers.
    pub fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
        headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|h| cookie_value(h, name))
    }

    pub fn presented_session_token(cookie_name: &str) -> Option<String> {
        cookie_in(&use_context::<Parts>()?.headers, cookie_name)
    }

    /// `Set-Cookie` for the session: HttpOnly, SameSite=Lax, Path=/, Secure behind https.
    pub fn session_cookie(config: &hub::config::Config, value: &str, max_age_seconds: u64) -> String {
        hub_cookie(config, &config.session.cookie_name, value, "/", max_age_seconds)
    }

    /// `Set-Cookie` for any of the hub's cookies: HttpOnly, SameSite=Lax, Secure behind https.
    pub fn hub_cookie(
        config: &hub::config::Config,
        name: &str,
        value: &str,
        path: &str,
        max_age_seconds: u64,
    ) -> String {
        let secure = if config.secure_cookies() { "; Secure" } else { "" };
        format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure}")
    }

    pub fn set_session_cookie(config: &hub::config::Config, value: &str, max_age_seconds: u64) {
        if let (Some(response), Ok(header)) = (
            use_context::<ResponseOptions>(),
            HeaderValue::from_str(&session_cookie(config, value, max_age_seconds)),
        ) {
            response.append_header(SET_COOKIE, header);
        }
    }

    /// Who a sign-in attempt is counted against: the peer address of the connection. (Behind a
    /// reverse proxy that is the proxy; `X-Forwarded-For` is not trusted.)
    pub fn client() -> hub::accounts::SignInClient {
        use_context::<Parts>()
            .and_then(|parts| {
                parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
            })
            .map_or_else(hub::accounts::SignInClient::unknown, hub::accounts::SignInClient::from_ip)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cookie_values_are_found_among_others() {
            assert_eq!(
                cookie_value("a=1; ganymede-session=xyz; b=2", "ganymede-session").as_deref(),
                Some("xyz")
            );
            assert_eq!(cookie_value("a=1", "ganymede-session"), None);
        }

        #[test]
        fn the_session_cookie_is_http_only_and_same_site() {
            let config = hub::config::Config::default();
            let c = session_cookie(&config, "v", 60);
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"), "{c}");
            let https =
                hub::config::Config::from_toml_str("[hub]\npublic_url = \"https://h.example/\"").unwrap();
            assert!(session_cookie(&https, "v", 60).contains("; Secure"));
        }
    }
}
