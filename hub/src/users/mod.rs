//! Operations on users that both edges (the REST API and the admin pages) use: adding, listing,
//! deleting, renaming, the admin flag, activity. Each writes its own audit rows.

mod activity;
mod listing;

pub use activity::{record as record_activity, ActivityError, ActivityReport};

use crate::accounts::{self, AccountError, User};
use crate::change::Change;
use crate::db::users::NewUser;
use crate::domain::UserName;
use crate::servers::{self, ServerError};
use crate::Hub;

pub use listing::{
    groups_of, list, ListError, Listed, ListingError, SortKey, StateFilter, UserOrder, UserQuery,
};

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
    #[error("Name at least one user.")]
    NoNames,
    #[error("Already exist: {}.", names(.0))]
    AllExist(Vec<UserName>),
}

fn names(list: &[UserName]) -> String {
    list.iter().map(UserName::as_str).collect::<Vec<_>>().join(", ")
}

/// What [`add`] did: the users it created, and the names that existed already.
#[derive(Debug, Clone)]
pub struct Added {
    pub added: Vec<User>,
    pub existing: Vec<UserName>,
}

/// Adds the named users (approved, without a password: they sign in through the identity
/// provider or get one from an admin). Repeated names count once; names that exist already are
/// reported, not changed; when every name exists, nothing is added and it is a conflict.
pub async fn add(
    hub: &Hub,
    actor: Option<&str>,
    names: &[UserName],
    admin: bool,
) -> Result<Added, UserOpError> {
    let mut unique: Vec<&UserName> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    if unique.is_empty() {
        return Err(UserOpError::NoNames);
    }
    let mut fresh = Vec::new();
    let mut existing = Vec::new();
    for name in unique {
        match accounts::find(hub.db(), name).await? {
            Some(_) => existing.push(name.clone()),
            None => fresh.push(name),
        }
    }
    if fresh.is_empty() {
        return Err(UserOpError::AllExist(existing));
    }
    // One transaction for all of them, with an audit row each.
    let mut added = Vec::with_capacity(fresh.len());
    let mut change = Change::begin(hub).await.map_err(AccountError::from)?;
    for name in fresh {
        let row = NewUser { name, password_hash: None, is_admin: admin, approved: true };
        match crate::db::users::insert(change.conn(), row).await.map_err(AccountError::from)? {
            Some(row) => {
                let detail = serde_json::json!({ "admin": admin, "approved": true });
                crate::db::events::record(change.conn(), actor, "user.create", Some(name.as_str()), detail)
                    .await
                    .map_err(AccountError::from)?;
                added.push(User::from_row(row)?);
            }
            // Added meanwhile by someone else: it exists, as far as this request goes.
            None => existing.push(name.clone()),
        }
    }
    change.commit_unaudited().await.map_err(AccountError::from)?;
    Ok(Added { added, existing })
}

/// The user with this name, if any.
pub async fn find(hub: &Hub, name: &UserName) -> Result<Option<User>, AccountError> {
    accounts::find(hub.db(), name).await
}

/// The user with this id, if any.
pub async fn find_by_id(hub: &Hub, id: i64) -> Result<Option<User>, AccountError> {
    accounts::find_by_id(hub.db(), id).await
}

/// Every account, by name (the command line's `user list`).
pub async fn all(hub: &Hub) -> Result<Vec<User>, AccountError> {
    accounts::list(hub.db()).await
}

/// How many accounts the hub has.
pub async fn count(hub: &Hub) -> Result<i64, AccountError> {
    Ok(crate::db::users::count(hub.db()).await?)
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
    accounts::set_admin(hub, actor, &user.name, admin).await?;
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
    accounts::remove(hub, actor, &user.name).await?;
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
    accounts::rename(hub, actor, user, new).await?;
    Ok(())
}

impl crate::error::Classify for UserOpError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            UserOpError::Account(e) => e.class(),
            UserOpError::Server(e) => e.class(),
            UserOpError::ServersActive(_)
            | UserOpError::CannotDeleteSelf
            | UserOpError::CannotRevokeOwnAdmin
            | UserOpError::NoNames => C::Invalid,
            UserOpError::AllExist(_) => C::Conflict,
        }
    }
}
