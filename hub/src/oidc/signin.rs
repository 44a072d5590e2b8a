//! Letting a verified identity in: the allow rules, the account (created on first sign-in), admin
//! rights and group memberships synced from the provider's claims. Every change is logged.

use serde_json::json;

use super::{rules, Identity, OidcError};
use crate::access::Changed;
use crate::accounts::{self, AccountError, NewAccount, User};
use crate::change::{Audit, Change};
use crate::config::OidcConfig;
use crate::db::{self, events, groups as group_rows};
use crate::domain::GroupName;
use crate::Hub;

fn unexpected(e: AccountError) -> OidcError {
    OidcError::Unexpected(anyhow::anyhow!("{e}"))
}

/// Signs `who` in: refuses blocked and not-allowed people, creates the account on first sign-in,
/// and brings admin rights and (with `manage_groups`) group memberships in line with the provider.
pub async fn sign_in(hub: &Hub, config: &OidcConfig, who: &Identity) -> Result<User, OidcError> {
    let pool = hub.db();
    let admin = match rules::decide(config, who) {
        rules::Decision::Blocked => return Err(OidcError::Blocked(who.name.clone())),
        rules::Decision::NotAllowed => return Err(OidcError::NotAllowed(who.name.clone())),
        rules::Decision::Allowed { admin } => admin,
    };
    let user = match accounts::find(pool, &who.name).await.map_err(unexpected)? {
        // A local account with a password is its owner's; the provider's user of the same name
        // must not take it over. Accounts made by an admin without a password are meant for this.
        Some(u) if u.auth_source != "oidc" && u.has_password => {
            return Err(OidcError::LocalAccountExists(who.name.clone()))
        }
        Some(u) if u.blocked => return Err(OidcError::Blocked(who.name.clone())),
        Some(u) => {
            if u.auth_source != "oidc" {
                db::users::set_auth_source(pool, u.id, "oidc").await?;
            }
            if !u.approved {
                accounts::approve(hub, None, &u.name).await.map_err(unexpected)?;
            }
            u
        }
        None => {
            let account = NewAccount {
                name: &who.name,
                password: None,
                is_admin: admin.unwrap_or(false),
                approved: true,
            };
            let created = accounts::create_user(hub, None, account).await.map_err(unexpected)?;
            db::users::set_auth_source(pool, created.id, "oidc").await?;
            created
        }
    };
    if let Some(admin) = admin.filter(|a| *a != user.is_admin) {
        accounts::set_admin(hub, None, &user.name, admin).await.map_err(unexpected)?;
    }
    if config.manage_groups && !config.groups_claim.is_empty() {
        sync_groups(hub, &user, &who.groups).await?;
    }
    accounts::find_by_id(pool, user.id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| OidcError::Unexpected(anyhow::anyhow!("user {} vanished while signing in", user.name)))
}

/// Makes the user's memberships exactly the provider's groups (creating groups as needed; names
/// the hub cannot hold are skipped with a warning), in one transaction with its audit rows.
async fn sync_groups(hub: &Hub, user: &User, wanted: &[String]) -> Result<(), OidcError> {
    let current = db::groups_of(hub.db(), user.id).await?;
    let mut valid = Vec::new();
    for raw in wanted {
        match GroupName::parse(raw) {
            Ok(name) => valid.push(name),
            Err(e) => {
                tracing::warn!(user.name = %user.name, group = %raw, error = %e, "provider group skipped")
            }
        }
    }
    let joins: Vec<&GroupName> = valid.iter().filter(|v| !current.iter().any(|c| c == v.as_str())).collect();
    let leaves: Vec<&String> =
        current.iter().filter(|c| !valid.iter().any(|v| v.as_str() == c.as_str())).collect();
    if joins.is_empty() && leaves.is_empty() {
        return Ok(());
    }
    let mut change = Change::begin(hub).await?;
    for name in joins {
        // Created when new (`insert` does nothing when another sign-in made it meanwhile).
        let row = match group_rows::insert(change.conn(), name.as_str()).await? {
            Some(row) => {
                let detail = json!({ "source": "oidc" });
                events::record(change.conn(), None, "group.create", Some(name.as_str()), detail).await?;
                row
            }
            None => group_rows::by_name_in(change.conn(), name.as_str())
                .await?
                .ok_or_else(|| OidcError::Unexpected(anyhow::anyhow!("group {name} vanished")))?,
        };
        group_rows::add_member(change.conn(), row.id, user.id).await?;
    }
    for old in leaves {
        if let Some(row) = group_rows::by_name_in(change.conn(), old).await? {
            group_rows::remove_member(change.conn(), row.id, user.id).await?;
        }
    }
    change.forgets(Changed::User(user.id));
    let names: Vec<&str> = valid.iter().map(GroupName::as_str).collect();
    change
        .commit(Audit::new(None, "user.groups_sync", user.name.as_str(), json!({ "groups": names })))
        .await?;
    Ok(())
}
