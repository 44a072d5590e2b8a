//! Operations on a user that span accounts and servers.

use crate::accounts::{self, AccountError, User};
use crate::domain::UserName;
use crate::servers::{self, ServerError};
use crate::Hub;

#[derive(Debug, thiserror::Error)]
pub enum UserOpError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("stop {0}'s servers before renaming them")]
    ServersActive(UserName),
    #[error("You cannot delete yourself.")]
    CannotDeleteSelf,
    #[error("You cannot revoke your own admin rights.")]
    CannotRevokeOwnAdmin,
}

/// Whether `actor` (a user name; `None` for the hub itself or the CLI) is `user`.
fn is_self(actor: Option<&str>, user: &User) -> bool {
    actor == Some(user.name.as_str())
}

/// Sets or clears `user`'s admin flag. An admin cannot clear their own, from any edge (the admin
/// page or the REST API), so a hub is never left without the admin who was using it; the CLI can.
pub async fn set_admin(hub: &Hub, actor: Option<&str>, user: &User, admin: bool) -> Result<(), UserOpError> {
    if !admin && is_self(actor, user) {
        return Err(UserOpError::CannotRevokeOwnAdmin);
    }
    accounts::set_admin(hub.db(), actor, &user.name, admin).await?;
    Ok(())
}

/// Deletes a user: their servers are stopped and forgotten first; their home volume stays.
/// Nobody deletes themselves this way (the CLI, acting as no one, can delete anyone).
pub async fn delete(hub: &Hub, actor: Option<&str>, user: &User) -> Result<(), UserOpError> {
    if is_self(actor, user) {
        return Err(UserOpError::CannotDeleteSelf);
    }
    for info in servers::list(hub, user).await? {
        servers::stop(hub, actor, user, &info.name).await?;
    }
    accounts::remove(hub.db(), actor, &user.name).await?;
    Ok(())
}

/// Renames a user whose servers are all stopped (their URLs contain the name).
pub async fn rename(hub: &Hub, actor: Option<&str>, user: &User, new: &UserName) -> Result<(), UserOpError> {
    if *new == user.name {
        return Ok(());
    }
    if servers::list(hub, user).await?.iter().any(|s| s.state != servers::ServerState::Stopped) {
        return Err(UserOpError::ServersActive(user.name.clone()));
    }
    accounts::rename(hub.db(), actor, user, new).await?;
    Ok(())
}
