//! Letting a verified identity in: the allow rules, the account (created on first sign-in), admin
//! rights and group memberships synced from the provider's claims — all in one transaction, with
//! an audit row for each thing that changed.

use serde_json::json;

use super::{rules, Identity, OidcError};
use crate::access::Changed;
use crate::accounts::{self, AccountError, User};
use crate::change::{Audit, Change};
use crate::config::OidcConfig;
use crate::db::{self, events, groups as group_rows, users as user_rows};
use crate::domain::GroupName;
use crate::Hub;

fn unexpected(e: AccountError) -> OidcError {
    OidcError::Unexpected(anyhow::anyhow!("{e}"))
}

fn vanished(what: &str) -> OidcError {
    OidcError::Unexpected(anyhow::anyhow!("{what} vanished while signing in"))
}

/// Signs `who` in: refuses blocked and not-allowed people, creates the account on first sign-in,
/// and brings admin rights and (with `manage_groups`) group memberships in line with the provider.
/// What changes lands in one transaction; a sign-in that changes nothing writes nothing.
pub async fn sign_in(hub: &Hub, config: &OidcConfig, who: &Identity) -> Result<User, OidcError> {
    let began = std::time::Instant::now();
    let result = admit(hub, config, who).await;
    hub.metrics().login(crate::metrics::Outcome::of(&result), began.elapsed());
    result
}

async fn admit(hub: &Hub, config: &OidcConfig, who: &Identity) -> Result<User, OidcError> {
    let admin = match rules::decide(config, who) {
        rules::Decision::Blocked => return Err(OidcError::Blocked(who.name.clone())),
        rules::Decision::NotAllowed => return Err(OidcError::NotAllowed(who.name.clone())),
        rules::Decision::Allowed { admin } => admin,
    };
    let existing = crate::users::find(hub, &who.name).await.map_err(unexpected)?;
    match &existing {
        // A local account with a password is its owner's; the provider's user of the same name
        // must not take it over. Accounts made by an admin without a password are meant for this.
        Some(u) if u.auth_source != "oidc" && u.has_password => {
            return Err(OidcError::LocalAccountExists(who.name.clone()))
        }
        Some(u) if u.blocked => return Err(OidcError::Blocked(who.name.clone())),
        _ => {}
    }
    let manage_groups = config.manage_groups && !config.groups_claim.is_empty();
    let wanted = if manage_groups { valid_groups(who) } else { Vec::new() };
    let current = match (&existing, manage_groups) {
        (Some(u), true) => db::groups_of(hub.db(), u.id).await?,
        _ => Vec::new(),
    };
    let joins: Vec<&GroupName> = wanted.iter().filter(|v| !current.iter().any(|c| c == v.as_str())).collect();
    let leaves: Vec<&String> =
        current.iter().filter(|c| !wanted.iter().any(|v| v.as_str() == c.as_str())).collect();
    let admin_change = match (&existing, admin) {
        (Some(u), Some(a)) if a != u.is_admin => Some(a),
        _ => None,
    };
    if let Some(u) = &existing {
        let unchanged = u.auth_source == "oidc"
            && u.approved
            && admin_change.is_none()
            && joins.is_empty()
            && leaves.is_empty();
        if unchanged {
            return Ok(u.clone());
        }
    }

    let name = who.name.as_str();
    let mut change = Change::begin(hub).await?;
    let mut audits: Vec<(&str, serde_json::Value)> = Vec::new();
    let user_id = match &existing {
        Some(u) => {
            if u.auth_source != "oidc" {
                user_rows::set_auth_source(change.conn(), u.id, "oidc").await?;
                audits.push(("user.auth_source", json!({ "source": "oidc" })));
            }
            if !u.approved {
                if !user_rows::set_approved(change.conn(), &u.name).await? {
                    return Err(vanished(name));
                }
                audits.push(("user.approve", json!({})));
            }
            if let Some(a) = admin_change {
                if !user_rows::set_admin(change.conn(), &u.name, a).await? {
                    return Err(vanished(name));
                }
                audits.push(("user.set_admin", json!({ "admin": a })));
            }
            u.id
        }
        None => {
            let is_admin = admin.unwrap_or(false);
            let new = user_rows::NewUser { name: &who.name, password_hash: None, is_admin, approved: true };
            // Another sign-in of the same person may have made it meanwhile: refused, and the
            // next attempt finds the account.
            let row = user_rows::insert(change.conn(), new)
                .await?
                .ok_or_else(|| unexpected(AccountError::AlreadyExists(who.name.clone())))?;
            user_rows::set_auth_source(change.conn(), row.id, "oidc").await?;
            audits.push(("user.create", json!({ "admin": is_admin, "approved": true, "source": "oidc" })));
            row.id
        }
    };
    if !joins.is_empty() || !leaves.is_empty() {
        for group in &joins {
            // Created when new (`insert` does nothing when another sign-in made it meanwhile).
            let row = match group_rows::insert(change.conn(), group.as_str()).await? {
                Some(row) => {
                    let detail = json!({ "source": "oidc" });
                    events::record(change.conn(), None, "group.create", Some(group.as_str()), detail).await?;
                    row
                }
                None => group_rows::by_name_in(change.conn(), group.as_str())
                    .await?
                    .ok_or_else(|| vanished(group.as_str()))?,
            };
            group_rows::add_member(change.conn(), row.id, user_id).await?;
        }
        for old in &leaves {
            if let Some(row) = group_rows::by_name_in(change.conn(), old).await? {
                group_rows::remove_member(change.conn(), row.id, user_id).await?;
            }
        }
        let names: Vec<&str> = wanted.iter().map(GroupName::as_str).collect();
        audits.push(("user.groups_sync", json!({ "groups": names })));
    }
    change.forgets(Changed::User(user_id));
    let last = audits.pop().ok_or_else(|| vanished(name))?;
    for (action, detail) in audits {
        events::record(change.conn(), None, action, Some(name), detail).await?;
    }
    change.commit(Audit::new(None, last.0, name, last.1)).await?;
    tracing::info!(user.name = %who.name, created = existing.is_none(), "signed in through the provider");
    accounts::find_by_id(hub.db(), user_id).await.map_err(unexpected)?.ok_or_else(|| vanished(name))
}

/// The provider's groups that the hub can hold (others are skipped with a warning).
fn valid_groups(who: &Identity) -> Vec<GroupName> {
    let mut valid = Vec::new();
    for raw in &who.groups {
        match GroupName::parse(raw) {
            Ok(name) => valid.push(name),
            Err(e) => {
                tracing::warn!(user.name = %who.name, group = %raw, error = %e, "provider group skipped")
            }
        }
    }
    valid
}
