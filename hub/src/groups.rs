//! Groups: create, delete, members, properties. Every change is one transaction with its audit
//! row; a change of members or a deletion drops what the access policy remembers of the
//! members' scopes (group filters, roles for groups, shares with the group).

use serde_json::{json, Value};

use crate::access::Changed;
use crate::accounts::User;
use crate::change::{Audit, Change};
use crate::db::{groups, Pool};
use crate::domain::GroupName;
use crate::Hub;

/// A group as pages and the API show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub members: Vec<String>,
    pub properties: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("there is no group named {0}")]
    NotFound(String),
    #[error("a group named {0} already exists")]
    AlreadyExists(GroupName),
    #[error("group properties must be a JSON object")]
    PropertiesNotObject,
    #[error("Groups come from the identity provider here (auth.oidc.manage_groups); change them there.")]
    ManagedByProvider,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for GroupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

async fn load(pool: &Pool, row: groups::GroupRow) -> Result<Group, GroupError> {
    let members = groups::members(pool, row.id).await?;
    let properties = serde_json::from_str(&row.properties).unwrap_or_else(|_| json!({}));
    Ok(Group { id: row.id, name: row.name, members, properties })
}

pub async fn find(hub: &Hub, name: &str) -> Result<Group, GroupError> {
    let row = groups::by_name(hub.db(), name).await?.ok_or_else(|| GroupError::NotFound(name.to_owned()))?;
    load(hub.db(), row).await
}

/// How many groups there are.
pub async fn count(hub: &Hub) -> Result<i64, GroupError> {
    Ok(groups::count(hub.db()).await?)
}

/// One page of groups, by name, with their members.
pub async fn list(hub: &Hub, offset: i64, limit: i64) -> Result<Vec<Group>, GroupError> {
    let mut out = Vec::new();
    for row in groups::list(hub.db(), offset, limit).await? {
        out.push(load(hub.db(), row).await?);
    }
    Ok(out)
}

/// Whether the OpenID Connect provider owns groups and memberships (`auth.oidc.manage_groups`
/// with a groups claim): then they are read-only here, on every edge (as JupyterHub's
/// `manage_groups`), and each sign-in brings them in line with the provider.
pub fn managed_by_provider(hub: &Hub) -> bool {
    hub.oidc().is_some_and(|o| o.config().manage_groups && !o.config().groups_claim.is_empty())
}

fn editable(hub: &Hub) -> Result<(), GroupError> {
    if managed_by_provider(hub) {
        return Err(GroupError::ManagedByProvider);
    }
    Ok(())
}

/// Creates a group with its first members.
pub async fn create(
    hub: &Hub,
    actor: Option<&str>,
    name: &GroupName,
    members: &[User],
) -> Result<Group, GroupError> {
    editable(hub)?;
    let mut change = Change::begin(hub).await?;
    let row = groups::insert(change.conn(), name.as_str())
        .await?
        .ok_or_else(|| GroupError::AlreadyExists(name.clone()))?;
    for user in members {
        groups::add_member(change.conn(), row.id, user.id).await?;
        change.forgets(Changed::User(user.id));
    }
    let names: Vec<&str> = members.iter().map(|u| u.name.as_str()).collect();
    change.commit(Audit::new(actor, "group.create", name.as_str(), json!({ "users": names }))).await?;
    load(hub.db(), row).await
}

pub async fn delete(hub: &Hub, actor: Option<&str>, name: &str) -> Result<(), GroupError> {
    editable(hub)?;
    let group = find(hub, name).await?;
    let mut change = Change::begin(hub).await?;
    groups::delete(change.conn(), group.id).await?;
    change.forgets(Changed::Group(group.name.clone()));
    change.commit(Audit::new(actor, "group.delete", name, json!({}))).await?;
    Ok(())
}

/// Adds (`add`) or removes users; answers the group afterwards.
pub async fn change_members(
    hub: &Hub,
    actor: Option<&str>,
    name: &str,
    users: &[User],
    add: bool,
) -> Result<Group, GroupError> {
    editable(hub)?;
    let group = find(hub, name).await?;
    let mut change = Change::begin(hub).await?;
    for user in users {
        if add {
            groups::add_member(change.conn(), group.id, user.id).await?;
        } else {
            groups::remove_member(change.conn(), group.id, user.id).await?;
        }
        change.forgets(Changed::User(user.id));
    }
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    let action = if add { "group.add_users" } else { "group.remove_users" };
    change.commit(Audit::new(actor, action, name, json!({ "users": names }))).await?;
    find(hub, name).await
}

/// Replaces the members with exactly `users`.
pub async fn set_members(
    hub: &Hub,
    actor: Option<&str>,
    name: &str,
    users: &[User],
) -> Result<Group, GroupError> {
    editable(hub)?;
    let group = find(hub, name).await?;
    let wanted: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    let current = groups::member_ids(hub.db(), group.id).await?;
    let mut change = Change::begin(hub).await?;
    for (user_id, old) in current {
        if !wanted.contains(&old.as_str()) {
            groups::remove_member(change.conn(), group.id, user_id).await?;
            change.forgets(Changed::User(user_id));
        }
    }
    for user in users {
        groups::add_member(change.conn(), group.id, user.id).await?;
        change.forgets(Changed::User(user.id));
    }
    change.commit(Audit::new(actor, "group.set_users", name, json!({ "users": wanted }))).await?;
    find(hub, name).await
}

pub async fn set_properties(
    hub: &Hub,
    actor: Option<&str>,
    name: &str,
    properties: &Value,
) -> Result<Group, GroupError> {
    if !properties.is_object() {
        return Err(GroupError::PropertiesNotObject);
    }
    let group = find(hub, name).await?;
    let mut change = Change::begin(hub).await?;
    groups::set_properties(change.conn(), group.id, &properties.to_string()).await?;
    change.commit(Audit::new(actor, "group.set_properties", name, json!({}))).await?;
    find(hub, name).await
}

impl crate::error::Classify for GroupError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            GroupError::NotFound(_) => C::NotFound,
            GroupError::AlreadyExists(_) => C::Conflict,
            GroupError::PropertiesNotObject | GroupError::ManagedByProvider => C::Invalid,
            GroupError::Unexpected(_) => C::Internal,
        }
    }
}
