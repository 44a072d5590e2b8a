//! `[[roles]]`: custom roles for users and groups (JupyterHub's `load_roles`): a name, the scopes
//! it grants (with filters, e.g. `servers!group=students`), and whom it is for: users, groups,
//! services.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Scopes as JupyterHub spells them, e.g. `["servers!group=students", "read:users!group=students"]`.
    pub scopes: Vec<String>,
    /// User names holding the role.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members hold the role.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `[[services]]` holding the role.
    #[serde(default)]
    pub services: Vec<String>,
}

pub(super) fn validate(roles: &[RoleConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for role in roles {
        if !super::catalogue::valid_id(&role.name)
            || ["user", "admin", "server", "token"].contains(&role.name.as_str())
        {
            return Err(ConfigError::invalid(
                "roles.name",
                format!(
                    "{:?}: use 1-32 characters of a-z, 0-9, '-' and '_' (not a built-in role's name)",
                    role.name
                ),
            ));
        }
        if !seen.insert(role.name.as_str()) {
            return Err(ConfigError::invalid("roles.name", format!("{:?} appears twice", role.name)));
        }
        for scope in &role.scopes {
            match crate::scopes::parse(scope) {
                Ok(crate::scopes::Requested::Grant(_)) => {}
                _ => {
                    return Err(ConfigError::invalid(
                        "roles.scopes",
                        format!("role {:?}: {scope:?} is not a scope", role.name),
                    ))
                }
            }
        }
    }
    Ok(())
}
