//! Who may use a server through the proxy: the signed-in owner (or an admin, where
//! `servers.admin_access` allows), or — as JupyterHub's servers accept — an API token
//! (`Authorization: token …` / `Bearer …`) whose scopes grant `access:servers` on that server.

use axum::http::HeaderMap;
use hub::accounts::User;
use hub::domain::UserName;
use hub::scopes::{Access, Resource, Scope, Scopes};
use hub::Hub;
use tracing::warn;

use crate::api::auth::presented_token;

/// The proxy's answer to "may this request reach the server?".
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No credentials at all: a browser is sent to sign in.
    SignIn,
    /// Credentials that do not cover this server (or are not valid).
    Forbidden(&'static str),
}

/// The server a request is for.
pub struct Target<'a> {
    pub user: &'a UserName,
    pub server: &'a str,
    /// The owner's id, when known (for group filters).
    pub user_id: Option<i64>,
}

pub async fn decide(hub: &Hub, headers: &HeaderMap, viewer: Option<&User>, target: &Target<'_>) -> Decision {
    let admin_access = hub.config().servers.admin_access;
    if let Some(viewer) = viewer {
        // A browser of the owner also sends Jupyter's own token (JupyterLab's page config holds
        // it): the session decides, and the header is replaced before forwarding.
        if viewer.name == *target.user || (viewer.is_admin && admin_access) {
            return Decision::Allowed;
        }
        // Shared with them (directly or through a group), or a role naming this server, its
        // owner or one of the owner's groups.
        if let Some(owner_id) = target.user_id {
            match hub::sharing::may_open(hub, viewer, target.user, owner_id, target.server).await {
                Ok(true) => return Decision::Allowed,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "share lookup failed"),
            }
        }
    }
    let Some(presented) = presented_token(headers) else {
        return match viewer {
            Some(_) => Decision::Forbidden("This server belongs to someone else."),
            None => Decision::SignIn,
        };
    };
    let Ok(token) = presented else { return Decision::Forbidden("The Authorization header is not valid.") };
    let (owner, scopes) = match hub::tokens::authenticate(hub, &token).await {
        Ok(Some((owner, scopes, _))) => (owner, scopes),
        Ok(None) => return Decision::Forbidden("The token is not valid."),
        Err(e) => {
            warn!(error = %e, "token lookup failed");
            return Decision::Forbidden("The token could not be checked.");
        }
    };
    let groups = match target.user_id {
        Some(id) => hub::users::groups_of(hub, id).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let resource = Resource::Server { user: target.user.as_str(), server: target.server, groups: &groups };
    // An admin's unfiltered `access:servers` follows `servers.admin_access`, as the cookie does;
    // a grant naming this user, server or group is an explicit share and always counts.
    let allowed = if owner.name == *target.user || admin_access {
        scopes.check(Scope::AccessServers, resource)
    } else {
        let explicit = Scopes::expand(scopes.grants().filter(|g| g.filter.is_some()).cloned());
        explicit.check(Scope::AccessServers, resource)
    };
    match allowed {
        Access::Allowed => Decision::Allowed,
        Access::Hidden | Access::Denied => {
            Decision::Forbidden("The token does not grant access to this server.")
        }
    }
}
