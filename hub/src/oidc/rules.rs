//! Who may sign in through the provider and who is an admin, from the configured lists (as
//! JupyterHub's OAuthenticator decides it): blocked users never; otherwise allowed when any allow
//! rule matches (admins count as allowed); nobody by default.

use crate::config::OidcConfig;

use super::claims::Identity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Blocked,
    NotAllowed,
    /// Let in; `admin` is `Some` when the config manages admin rights, `None` to leave them as they are.
    Allowed {
        admin: Option<bool>,
    },
}

fn listed(list: &[String], name: &str) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn shares(list: &[String], groups: &[String]) -> bool {
    groups.iter().any(|g| list.contains(g))
}

pub fn decide(config: &OidcConfig, who: &Identity) -> Decision {
    let name = who.name.as_str();
    if listed(&config.blocked_users, name) {
        return Decision::Blocked;
    }
    let is_admin = listed(&config.admin_users, name) || shares(&config.admin_groups, &who.groups);
    let allowed = config.allow_all
        || is_admin
        || listed(&config.allowed_users, name)
        || shares(&config.allowed_groups, &who.groups);
    if !allowed {
        return Decision::NotAllowed;
    }
    let manages_admins = !config.admin_users.is_empty() || !config.admin_groups.is_empty();
    Decision::Allowed { admin: manages_admins.then_some(is_admin) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserName;

    fn who(name: &str, groups: &[&str]) -> Identity {
        Identity {
            name: UserName::parse(name).unwrap(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn config() -> OidcConfig {
        OidcConfig {
            allowed_groups: vec!["users".into()],
            admin_groups: vec!["admins".into()],
            allowed_users: vec!["dave".into()],
            blocked_users: vec!["mallory".into()],
            ..OidcConfig::default()
        }
    }

    #[test]
    fn nobody_is_allowed_by_default() {
        assert_eq!(decide(&OidcConfig::default(), &who("alice", &["users"])), Decision::NotAllowed);
        let open = OidcConfig { allow_all: true, ..OidcConfig::default() };
        assert_eq!(decide(&open, &who("alice", &[])), Decision::Allowed { admin: None });
    }

    #[test]
    fn groups_and_names_allow_and_admin_groups_make_admins() {
        let c = config();
        assert_eq!(decide(&c, &who("alice", &["admins"])), Decision::Allowed { admin: Some(true) });
        assert_eq!(decide(&c, &who("bob", &["users"])), Decision::Allowed { admin: Some(false) });
        assert_eq!(decide(&c, &who("dave", &[])), Decision::Allowed { admin: Some(false) });
        assert_eq!(decide(&c, &who("carol", &["others"])), Decision::NotAllowed);
    }

    #[test]
    fn blocked_users_stay_out_whatever_their_groups() {
        assert_eq!(decide(&config(), &who("mallory", &["admins", "users"])), Decision::Blocked);
    }
}
