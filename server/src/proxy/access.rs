//! Who may use a server through the proxy, as [`hub::access`] answers it: the signed-in owner
//! (or an admin, where `servers.admin_access` allows), someone it is shared with or a role
//! names, or — as JupyterHub's servers accept — an API token (`Authorization: token …` /
//! `Bearer …`), a user's or a service's, whose scopes grant `access:servers` on that server. This module only reads the
//! credentials off the request; it decides nothing itself.

use app::session::ssr::cookie_in;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::HeaderMap;
use hub::access::{self, Bearer, Changed, ServerRef, Session, Who};
use hub::domain::UserName;
use hub::Hub;
use tracing::warn;

use crate::api::auth::presented_token;

/// What let a request through: asked again when the access policy changes (open websockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub viewer_id: i64,
    pub session_id: Option<i64>,
    pub token_id: Option<i64>,
}

/// The proxy's answer to "may this request reach the server?".
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed(Grant),
    /// No credentials at all: a browser is sent to sign in.
    SignIn,
    /// Credentials that do not cover this server (or are not valid).
    Forbidden(&'static str),
}

/// The server a request is for.
pub struct Target<'a> {
    pub user: &'a UserName,
    pub server: &'a str,
    /// The owner's id, when the server runs (its route knows it).
    pub user_id: Option<i64>,
}

/// The request's credentials alone (its cookie and `Authorization` headers), kept by an open
/// websocket to ask again.
pub fn credentials(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in [COOKIE, AUTHORIZATION] {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// The session behind the credentials' cookie, asked again (an open websocket's re-check: the
/// request's own session came from the session layer).
pub async fn session_of(hub: &Hub, credentials: &HeaderMap) -> Option<Session> {
    let value = cookie_in(credentials, &hub.config().session.cookie_name)?;
    match access::session(hub, &value).await {
        Ok(session) => session,
        Err(e) => {
            warn!(error = %e, "session lookup failed");
            None
        }
    }
}

/// `session`: the request's signed-in session, if any (resolved once, by the session layer).
pub async fn decide(
    hub: &Hub,
    headers: &HeaderMap,
    session: Option<&Session>,
    target: &Target<'_>,
) -> Decision {
    if let Some(session) = session {
        // A browser of the owner also sends Jupyter's own token (JupyterLab's page config holds
        // it): the session decides, and the header is replaced before forwarding.
        let grant = Grant { viewer_id: session.user.id, session_id: Some(session.id), token_id: None };
        let owner_id = owner_id(target, &session.user);
        let server = ServerRef { owner_id, owner: target.user, server: target.server };
        match access::open_server(hub, Who::Person(&session.user), server).await {
            Ok(opening) if opening.allowed() => return Decision::Allowed(grant),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "access check failed"),
        }
    }
    let Some(presented) = presented_token(headers) else {
        return match session {
            Some(_) => Decision::Forbidden("This server belongs to someone else."),
            None => Decision::SignIn,
        };
    };
    let Ok(token) = presented else { return Decision::Forbidden("The Authorization header is not valid.") };
    let principal = match access::bearer(hub, &token).await {
        Ok(Some(Bearer::User(principal))) => principal,
        Ok(Some(Bearer::Service(service))) => {
            // A service's grant is its configuration: it ends only with the hub's restart.
            let server = ServerRef {
                owner_id: target.user_id.unwrap_or(0),
                owner: target.user,
                server: target.server,
            };
            return match access::open_server(hub, Who::Service(&service), server).await {
                Ok(opening) if opening.allowed() => {
                    Decision::Allowed(Grant { viewer_id: 0, session_id: None, token_id: None })
                }
                Ok(_) => Decision::Forbidden("The service's roles do not grant access to this server."),
                Err(e) => {
                    warn!(error = %e, "access check failed");
                    Decision::Forbidden("The token could not be checked.")
                }
            };
        }
        Ok(None) => return Decision::Forbidden("The token is not valid."),
        Err(e) => {
            warn!(error = %e, "token lookup failed");
            return Decision::Forbidden("The token could not be checked.");
        }
    };
    let server =
        ServerRef { owner_id: owner_id(target, &principal.user), owner: target.user, server: target.server };
    match access::open_server(hub, Who::Token(&principal), server).await {
        Ok(opening) if opening.allowed() => Decision::Allowed(Grant {
            viewer_id: principal.user.id,
            session_id: None,
            token_id: Some(principal.token.id),
        }),
        Ok(_) => Decision::Forbidden("The token does not grant access to this server."),
        Err(e) => {
            warn!(error = %e, "access check failed");
            Decision::Forbidden("The token could not be checked.")
        }
    }
}

/// The owner's id: from the route, or the viewer's own when the URL names them (a server that
/// is not running has no route); 0 (nobody) otherwise.
fn owner_id(target: &Target<'_>, viewer: &hub::accounts::User) -> i64 {
    match target.user_id {
        Some(id) => id,
        None if viewer.name == *target.user => viewer.id,
        None => 0,
    }
}

/// Whether a change of the access policy may end what `grant` opened on server `server_id` of
/// `owner_id`: then the connection asks again.
pub fn concerns(change: &Changed, grant: &Grant, owner_id: i64, server_id: i64) -> bool {
    access::concerns(change, grant.viewer_id, grant.session_id, grant.token_id, owner_id, server_id)
}
