//! Groups: create, delete, members, properties. Every change is written to the audit log.

use serde_json::{json, Value};

use crate::accounts::User;
use crate::db::{events, groups, Pool};
use crate::domain::GroupName;

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

pub async fn find(pool: &Pool, name: &str) -> Result<Group, GroupError> {
    let row = groups::by_name(pool, name).await?.ok_or_else(|| GroupError::NotFound(name.to_owned()))?;
    load(pool, row).await
}

/// How many groups there are.
pub async fn count(pool: &Pool) -> Result<i64, GroupError> {
    Ok(groups::count(pool).await?)
}

/// One page of groups, by name, with their members.
pub async fn list(pool: &Pool, offset: i64, limit: i64) -> Result<Vec<Group>, GroupError> {
    let mut out = Vec::new();
    for row in groups::list(pool, offset, limit).await? {
        out.push(load(pool, row).await?);
    }
    Ok(out)
}

/// Creates a group with its first members.
pub async fn create(
    pool: &Pool,
    actor: Option<&str>,
    name: &GroupName,
    members: &[User],
) -> Result<Group, GroupError> {
    let row =
        groups::insert(pool, name.as_str()).await?.ok_or_else(|| GroupError::AlreadyExists(name.clone()))?;
    for user in members {
        groups::add_member(pool, row.id, user.id).await?;
    }
    let names: Vec<&str> = members.iter().map(|u| u.name.as_str()).collect();
    events::record(pool, actor, "group.create", Some(name.as_str()), json!({ "users": names })).await?;
    load(pool, row).await
}

pub async fn delete(pool: &Pool, actor: Option<&str>, name: &str) -> Result<(), GroupError> {
    let group = find(pool, name).await?;
    groups::delete(pool, group.id).await?;
    events::record(pool, actor, "group.delete", Some(name), json!({})).await?;
    Ok(())
}

/// Adds (`add`) or removes users; answers the group afterwards.
pub async fn change_members(
    pool: &Pool,
    actor: Option<&str>,
    name: &str,
    users: &[User],
    add: bool,
) -> Result<Group, GroupError> {
    let group = find(pool, name).await?;
    for user in users {
        if add {
            groups::add_member(pool, group.id, user.id).await?;
        } else {
            groups::remove_member(pool, group.id, user.id).await?;
        }
    }
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    let action = if add { "group.add_users" } else { "group.remove_users" };
    events::record(pool, actor, action, Some(name), json!({ "users": names })).await?;
    find(pool, name).await
}

/// Replaces the members with exactly `users`.
pub async fn set_members(
    pool: &Pool,
    actor: Option<&str>,
    name: &str,
    users: &[User],
) -> Result<Group, GroupError> {
    let group = find(pool, name).await?;
    let wanted: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    for (user_id, old) in groups::member_ids(pool, group.id).await? {
        if !wanted.contains(&old.as_str()) {
            groups::remove_member(pool, group.id, user_id).await?;
        }
    }
    for user in users {
        groups::add_member(pool, group.id, user.id).await?;
    }
    events::record(pool, actor, "group.set_users", Some(name), json!({ "users": wanted })).await?;
    find(pool, name).await
}

pub async fn set_properties(
    pool: &Pool,
    actor: Option<&str>,
    name: &str,
    properties: &Value,
) -> Result<Group, GroupError> {
    if !properties.is_object() {
        return Err(GroupError::PropertiesNotObject);
    }
    let group = find(pool, name).await?;
    groups::set_properties(pool, group.id, &properties.to_string()).await?;
    events::record(pool, actor, "group.set_properties", Some(name), json!({})).await?;
    find(pool, name).await
}

impl crate::error::Classify for GroupError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            GroupError::NotFound(_) => C::NotFound,
            GroupError::AlreadyExists(_) => C::Conflict,
            GroupError::PropertiesNotObject => C::Invalid,
            GroupError::Unexpected(_) => C::Internal,
        }
    }
}
