//! Letting a verified identity in: the allow rules, the account (created on first sign-in), admin
//! rights and group memberships synced from the provider's claims. Every change is logged.

use serde_json::json;

use super::{rules, Identity, OidcError};
use crate::accounts::{self, AccountError, NewAccount, User};
use crate::config::OidcConfig;
use crate::db::{self, events, groups as group_rows, Pool};
use crate::domain::GroupName;

fn unexpected(e: AccountError) -> OidcError {
    OidcError::Unexpected(anyhow::anyhow!("{e}"))
}

/// Signs `who` in: refuses blocked and not-allowed people, creates the account on first sign-in,
/// and brings admin rights and (with `manage_groups`) group memberships in line with the provider.
pub async fn sign_in(pool: &Pool, config: &OidcConfig, who: &Identity) -> Result<User, OidcError> {
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
                accounts::approve(pool, None, &u.name).await.map_err(unexpected)?;
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
            let created = accounts::create_user(pool, None, account).await.map_err(unexpected)?;
            db::users::set_auth_source(pool, created.id, "oidc").await?;
            created
        }
    };
    if let Some(admin) = admin.filter(|a| *a != user.is_admin) {
        accounts::set_admin(pool, None, &user.name, admin).await.map_err(unexpected)?;
    }
    if config.manage_groups && !config.groups_claim.is_empty() {
        sync_groups(pool, &user, &who.groups).await?;
    }
    accounts::find_by_id(pool, user.id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| OidcError::Unexpected(anyhow::anyhow!("user {} vanished while signing in", user.name)))
}

/// Makes the user's memberships exactly the provider's groups (creating groups as needed; names
/// the hub cannot hold are skipped with a warning).
async fn sync_groups(pool: &Pool, user: &User, wanted: &[String]) -> Result<(), OidcError> {
    let current = db::groups_of(pool, user.id).await?;
    let mut valid = Vec::new();
    for raw in wanted {
        match GroupName::parse(raw) {
            Ok(name) => valid.push(name),
            Err(e) => {
                tracing::warn!(user.name = %user.name, group = %raw, error = %e, "provider group skipped")
            }
        }
    }
    let mut changed = false;
    for name in &valid {
        if current.iter().any(|c| c == name.as_str()) {
            continue;
        }
        // Created when new (`insert` does nothing when another sign-in made it meanwhile).
        if group_rows::insert(pool, name.as_str()).await?.is_some() {
            events::record(pool, None, "group.create", Some(name.as_str()), json!({ "source": "oidc" }))
                .await?;
        }
        let row = group_rows::by_name(pool, name.as_str())
            .await?
            .ok_or_else(|| OidcError::Unexpected(anyhow::anyhow!("group {name} vanished")))?;
        group_rows::add_member(pool, row.id, user.id).await?;
        changed = true;
    }
    for old in &current {
        if valid.iter().any(|v| v.as_str() == old) {
            continue;
        }
        if let Some(row) = group_rows::by_name(pool, old).await? {
            group_rows::remove_member(pool, row.id, user.id).await?;
            changed = true;
        }
    }
    if changed {
        let names: Vec<&str> = valid.iter().map(GroupName::as_str).collect();
        events::record(pool, None, "user.groups_sync", Some(user.name.as_str()), json!({ "groups": names }))
            .await?;
    }
    Ok(())
}
