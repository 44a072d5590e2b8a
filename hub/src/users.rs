//! Operations on a user that span accounts and servers.

use crate::accounts::{self, AccountError, User};
use crate::domain::{ServerName, UserName};
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
}

/// Deletes a user: their servers are stopped and forgotten first; their home volume stays.
pub async fn delete(hub: &Hub, actor: Option<&str>, user: &User) -> Result<(), UserOpError> {
    for info in servers::list(hub, user).await? {
        let server = ServerName::parse(&info.name).unwrap_or_default();
        servers::stop(hub, actor, user, &server).await?;
    }
    accounts::remove(hub.db(), actor, &user.name).await?;
    Ok(())
}

/// Renames a user whose servers are all stopped (their URLs contain the name).
pub async fn rename(hub: &Hub, actor: Option<&str>, user: &User, new: &UserName) -> Result<(), UserOpError> {
    if *new == user.name {
        return Ok(());
    }
    if servers::list(hub, user).await?.iter().any(|s| s.status != "stopped") {
        return Err(UserOpError::ServersActive(user.name.clone()));
    }
    accounts::rename(hub.db(), actor, user, new).await?;
    Ok(())
}
