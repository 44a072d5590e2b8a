//! JupyterHub's RBAC scopes: a closed set with a hierarchy, filters (`!user=`, `!server=`,
//! `!group=`), the default roles, and the intersection that keeps a token within its owner.
//!
//! An access check answers one of three things, as upstream does: allowed; hidden (the caller has
//! the scope, but its filters exclude this resource: 404); denied (no such scope at all: 403).

use std::collections::BTreeSet;
use std::fmt;

macro_rules! scopes {
    ($($variant:ident => $name:literal [$($child:ident),*]),* $(,)?) => {
        /// One scope of the REST API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope { $($variant),* }

        impl Scope {
            pub const ALL: &'static [Scope] = &[$(Scope::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Scope::$variant => $name),* }
            }

            /// Scopes this one directly implies.
            pub fn children(self) -> &'static [Scope] {
                match self { $(Scope::$variant => &[$(Scope::$child),*]),* }
            }
        }
    };
}

scopes! {
    AdminUi => "admin-ui" [],
    AdminUsers => "admin:users" [AdminAuthState, Users, ReadRolesUsers, DeleteUsers],
    AdminAuthState => "admin:auth_state" [],
    Users => "users" [ReadUsers, ListUsers, UsersActivity],
    DeleteUsers => "delete:users" [],
    ListUsers => "list:users" [ReadUsersName],
    ReadUsers => "read:users" [ReadUsersName, ReadUsersGroups, ReadUsersActivity],
    ReadUsersName => "read:users:name" [],
    ReadUsersGroups => "read:users:groups" [],
    ReadUsersActivity => "read:users:activity" [],
    ReadRoles => "read:roles" [ReadRolesUsers, ReadRolesServices, ReadRolesGroups],
    ReadRolesUsers => "read:roles:users" [],
    ReadRolesServices => "read:roles:services" [],
    ReadRolesGroups => "read:roles:groups" [],
    UsersActivity => "users:activity" [],
    AdminServers => "admin:servers" [AdminServerState, Servers],
    AdminServerState => "admin:server_state" [],
    Servers => "servers" [ReadServers, StartServers, DeleteServers],
    ReadServers => "read:servers" [ReadUsersName],
    StartServers => "start:servers" [],
    DeleteServers => "delete:servers" [],
    Tokens => "tokens" [ReadTokens],
    ReadTokens => "read:tokens" [],
    AdminGroups => "admin:groups" [Groups, DeleteGroups],
    Groups => "groups" [ReadGroups, ListGroups],
    ListGroups => "list:groups" [ReadGroupsName],
    ReadGroups => "read:groups" [ReadGroupsName],
    ReadGroupsName => "read:groups:name" [],
    DeleteGroups => "delete:groups" [],
    AdminServices => "admin:services" [ListServices, ReadServices],
    ListServices => "list:services" [ReadServicesName],
    ReadServices => "read:services" [ReadServicesName],
    ReadServicesName => "read:services:name" [],
    ReadHub => "read:hub" [],
    AccessServers => "access:servers" [],
    AccessServices => "access:services" [],
    UsersShares => "users:shares" [ReadUsersShares],
    ReadUsersShares => "read:users:shares" [],
    GroupsShares => "groups:shares" [ReadGroupsShares],
    ReadGroupsShares => "read:groups:shares" [],
    ReadShares => "read:shares" [],
    Shares => "shares" [ReadShares],
    Proxy => "proxy" [],
    Shutdown => "shutdown" [],
    ReadMetrics => "read:metrics" [],
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a filtered scope is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Filter {
    User(String),
    /// `user/server` (an empty server name is the default server).
    Server(String, String),
    Group(String),
    /// A `[[services]]` entry, by name.
    Service(String),
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::User(u) => write!(f, "user={u}"),
            Filter::Server(u, s) => write!(f, "server={u}/{s}"),
            Filter::Group(g) => write!(f, "group={g}"),
            Filter::Service(s) => write!(f, "service={s}"),
        }
    }
}

/// A scope, perhaps filtered: `read:users!user=alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    pub scope: Scope,
    pub filter: Option<Filter>,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.scope),
            Some(filter) => write!(f, "{}!{filter}", self.scope),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope {0:?}")]
    Unknown(String),
    #[error(
        "invalid scope filter {0:?} (use !user=NAME, !server=NAME/SERVER, !group=NAME or !service=NAME)"
    )]
    BadFilter(String),
}

/// What a token or role asks for, before `self`/`inherit` are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// The owner's own resources.
    SelfScope,
    /// Everything the owner may do.
    Inherit,
    Grant(Grant),
}

/// Scope strings as the database stores them (a JSON list, in tokens, shares, OAuth clients and
/// codes); a malformed value reads as no scopes.
pub fn decode_stored(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Scope strings as the database stores them.
pub fn encode_stored(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Parses one scope string as clients send it.
pub fn parse(input: &str) -> Result<Requested, ScopeError> {
    match input {
        "self" => return Ok(Requested::SelfScope),
        "inherit" => return Ok(Requested::Inherit),
        _ => {}
    }
    let (name, filter) = match input.split_once('!') {
        Some((name, filter)) => (name, Some(filter)),
        None => (input, None),
    };
    let scope = Scope::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| ScopeError::Unknown(input.into()))?;
    let filter = match filter {
        None => None,
        Some(f) => Some(parse_filter(f).ok_or_else(|| ScopeError::BadFilter(input.into()))?),
    };
    Ok(Requested::Grant(Grant { scope, filter }))
}

fn parse_filter(f: &str) -> Option<Filter> {
    let (kind, value) = f.split_once('=')?;
    if value.is_empty() {
        return None;
    }
    match kind {
        "user" => Some(Filter::User(value.into())),
        "group" => Some(Filter::Group(value.into())),
        "service" => Some(Filter::Service(value.into())),
        "server" => {
            let (u, s) = value.split_once('/')?;
            (!u.is_empty()).then(|| Filter::Server(u.into(), s.into()))
        }
        _ => None,
    }
}

/// The resource a check is about.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// The hub itself (`read:hub`, listing endpoints).
    Hub,
    User {
        name: &'a str,
        groups: &'a [String],
    },
    Server {
        user: &'a str,
        server: &'a str,
        groups: &'a [String],
    },
    Group {
        name: &'a str,
    },
    Service {
        name: &'a str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Has the scope, but not for this resource: answer 404.
    Hidden,
    /// Lacks the scope: answer 403.
    Denied,
}

/// An expanded set of grants (every implied scope present).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Grant>);

impl Scopes {
    /// Expands grants with everything they imply (children keep the parent's filter).
    pub fn expand(grants: impl IntoIterator<Item = Grant>) -> Self {
        let mut out = BTreeSet::new();
        let mut stack: Vec<Grant> = grants.into_iter().collect();
        while let Some(g) = stack.pop() {
            for child in g.scope.children() {
                stack.push(Grant { scope: *child, filter: g.filter.clone() });
            }
            out.insert(g);
        }
        Self(out)
    }

    /// The default `user` role: everything about oneself (`self`).
    pub fn self_scopes(user: &str) -> Self {
        let own = [
            Scope::ReadUsers,
            Scope::UsersActivity,
            Scope::Servers,
            Scope::Tokens,
            Scope::AccessServers,
            Scope::ReadUsersShares,
            Scope::UsersShares,
            // Unlike JupyterHub (where an admin grants `shares!user`), owners may share their
            // own servers: the dashboard's Share button.
            Scope::Shares,
        ];
        Self::expand(own.into_iter().map(|scope| Grant { scope, filter: Some(Filter::User(user.into())) }))
    }

    /// The default `admin` role.
    pub fn admin() -> Self {
        let all = [
            Scope::AdminUi,
            Scope::AdminUsers,
            Scope::AdminServers,
            Scope::Tokens,
            Scope::AdminGroups,
            Scope::ListServices,
            Scope::ReadServices,
            Scope::ReadHub,
            Scope::Proxy,
            Scope::Shutdown,
            Scope::AccessServices,
            Scope::AccessServers,
            Scope::ReadRoles,
            Scope::ReadMetrics,
            Scope::Shares,
        ];
        Self::expand(all.into_iter().map(|scope| Grant { scope, filter: None }))
    }

    /// What a user may do: the `user` role, plus `admin` for admins.
    pub fn for_user(name: &str, is_admin: bool) -> Self {
        let mut scopes = Self::self_scopes(name);
        if is_admin {
            scopes.0.extend(Self::admin().0);
        }
        scopes
    }

    /// These grants and those of `shared` (scope strings, as shares store them): what a person
    /// may do including what others shared with them. Strings that do not parse are left out.
    pub fn with_shared<'a>(&self, shared: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = self.0.clone();
        for text in shared {
            if let Ok(Requested::Grant(g)) = parse(text) {
                out.extend(Self::expand([g]).0);
            }
        }
        Self(out)
    }

    /// Resolves what a token asks for against its owner, then keeps it within the owner: a token
    /// never exceeds its owner.
    pub fn for_token(requested: &[Requested], owner: &str, owner_scopes: &Scopes) -> Self {
        let mut asked = BTreeSet::new();
        for r in requested {
            match r {
                Requested::Inherit => return owner_scopes.clone(),
                Requested::SelfScope => asked.extend(Self::self_scopes(owner).0),
                Requested::Grant(g) => {
                    asked.insert(g.clone());
                }
            }
        }
        Self::expand(asked).intersect(owner_scopes)
    }

    /// Grants present in both, narrowed to the tighter filter where they differ.
    pub fn intersect(&self, other: &Scopes) -> Self {
        let mut out = BTreeSet::new();
        for a in &self.0 {
            for b in other.0.iter().filter(|b| b.scope == a.scope) {
                if let Some(filter) = narrower(a.filter.as_ref(), b.filter.as_ref()) {
                    out.insert(Grant { scope: a.scope, filter });
                }
            }
        }
        Self(out)
    }

    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.0.iter()
    }

    /// The scope strings, sorted, as `/hub/api/user` reports them.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub fn has_any(&self, scope: Scope) -> bool {
        self.0.iter().any(|g| g.scope == scope)
    }

    /// The users a filtered `scope` reaches, as names and group names (what [`Scopes::check`]
    /// allows for a `Resource::User`), so a listing can be one query. `None` when it is unfiltered.
    pub fn user_filters(&self, scope: Scope) -> Option<(Vec<String>, Vec<String>)> {
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        for g in self.0.iter().filter(|g| g.scope == scope) {
            match &g.filter {
                None => return None,
                Some(Filter::User(u)) => users.push(u.clone()),
                Some(Filter::Group(name)) => groups.push(name.clone()),
                Some(Filter::Server(..) | Filter::Service(_)) => {}
            }
        }
        Some((users, groups))
    }

    /// Whether `scope` allows `resource`.
    pub fn check(&self, scope: Scope, resource: Resource<'_>) -> Access {
        let mut any = false;
        for g in self.0.iter().filter(|g| g.scope == scope) {
            any = true;
            if matches(g.filter.as_ref(), resource) {
                return Access::Allowed;
            }
        }
        if any {
            Access::Hidden
        } else {
            Access::Denied
        }
    }
}

/// The intersection of two filters: `Some(f)` the tighter one, `None` when disjoint.
/// (A group filter meeting a user/server filter is dropped: membership is not known here.)
fn narrower(a: Option<&Filter>, b: Option<&Filter>) -> Option<Option<Filter>> {
    match (a, b) {
        (None, None) => Some(None),
        (None, Some(f)) | (Some(f), None) => Some(Some(f.clone())),
        (Some(x), Some(y)) if x == y => Some(Some(x.clone())),
        (Some(Filter::User(u)), Some(s @ Filter::Server(su, _)))
        | (Some(s @ Filter::Server(su, _)), Some(Filter::User(u)))
            if u == su =>
        {
            Some(Some(s.clone()))
        }
        _ => None,
    }
}

fn matches(filter: Option<&Filter>, resource: Resource<'_>) -> bool {
    let Some(filter) = filter else { return true };
    match (filter, resource) {
        (_, Resource::Hub) => false,
        (Filter::User(u), Resource::User { name, .. }) => u == name,
        (Filter::User(u), Resource::Server { user, .. }) => u == user,
        (Filter::Server(u, s), Resource::Server { user, server, .. }) => u == user && s == server,
        (Filter::Group(g), Resource::User { groups, .. } | Resource::Server { groups, .. }) => {
            groups.contains(g)
        }
        (Filter::Group(g), Resource::Group { name }) => g == name,
        (Filter::Service(s), Resource::Service { name }) => s == name,
        _ => false,
    }
}

impl crate::error::Classify for ScopeError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(s: &str) -> Grant {
        match parse(s).unwrap() {
            Requested::Grant(g) => g,
            other => panic!("{other:?}"),
        }
    }

    fn scopes(list: &[&str]) -> Scopes {
        Scopes::expand(list.iter().map(|s| grant(s)))
    }

    fn user<'a>(name: &'a str, groups: &'a [String]) -> Resource<'a> {
        Resource::User { name, groups }
    }

    fn check(held: &[&str], scope: Scope, resource: Resource<'_>, expected: Access) {
        assert_eq!(scopes(held).check(scope, resource), expected, "{held:?} {scope} {resource:?}");
    }

    #[test]
    fn every_scope_parses_back_from_its_name() {
        for s in Scope::ALL {
            assert_eq!(grant(s.as_str()).scope, *s);
        }
    }

    #[test]
    fn unknown_scopes_and_bad_filters_are_refused() {
        assert_eq!(parse("read:everything"), Err(ScopeError::Unknown("read:everything".into())));
        assert!(matches!(parse("read:users!nobody=x"), Err(ScopeError::BadFilter(_))));
        assert!(matches!(parse("read:users!user="), Err(ScopeError::BadFilter(_))));
        assert!(matches!(parse("servers!server=alice"), Err(ScopeError::BadFilter(_))));
    }

    #[test]
    fn parents_imply_their_children() {
        check(&["admin:users"], Scope::ReadUsersName, user("bob", &[]), Access::Allowed);
        check(
            &["servers"],
            Scope::DeleteServers,
            Resource::Server { user: "bob", server: "", groups: &[] },
            Access::Allowed,
        );
        check(&["read:users"], Scope::AdminUsers, user("bob", &[]), Access::Denied);
    }

    #[test]
    fn a_user_filter_hides_other_users() {
        check(&["read:users!user=bob"], Scope::ReadUsers, user("bob", &[]), Access::Allowed);
        check(&["read:users!user=bob"], Scope::ReadUsers, user("alice", &[]), Access::Hidden);
        check(&["read:users!user=bob"], Scope::Servers, user("bob", &[]), Access::Denied);
    }

    #[test]
    fn a_server_filter_allows_one_server() {
        let held = &["servers!server=bob/gpu"];
        check(
            held,
            Scope::Servers,
            Resource::Server { user: "bob", server: "gpu", groups: &[] },
            Access::Allowed,
        );
        check(
            held,
            Scope::Servers,
            Resource::Server { user: "bob", server: "", groups: &[] },
            Access::Hidden,
        );
    }

    #[test]
    fn a_group_filter_covers_its_members_and_itself() {
        let staff = vec!["staff".to_owned()];
        check(&["read:users!group=staff"], Scope::ReadUsers, user("carol", &staff), Access::Allowed);
        check(&["read:users!group=staff"], Scope::ReadUsers, user("dave", &[]), Access::Hidden);
        check(
            &["read:groups!group=staff"],
            Scope::ReadGroups,
            Resource::Group { name: "staff" },
            Access::Allowed,
        );
    }

    #[test]
    fn the_user_role_covers_only_oneself() {
        let alice = Scopes::for_user("alice", false);
        assert_eq!(
            alice.check(Scope::Servers, Resource::Server { user: "alice", server: "x", groups: &[] }),
            Access::Allowed
        );
        assert_eq!(alice.check(Scope::ReadUsers, user("bob", &[])), Access::Hidden);
        assert_eq!(alice.check(Scope::AdminUsers, user("alice", &[])), Access::Denied);
        assert_eq!(alice.check(Scope::ListUsers, Resource::Hub), Access::Denied);
    }

    #[test]
    fn admins_get_everything_unfiltered() {
        let root = Scopes::for_user("root", true);
        assert_eq!(root.check(Scope::AdminUsers, user("bob", &[])), Access::Allowed);
        assert_eq!(root.check(Scope::ListUsers, Resource::Hub), Access::Allowed);
        assert_eq!(root.check(Scope::AdminGroups, Resource::Group { name: "g" }), Access::Allowed);
    }

    #[test]
    fn a_token_never_exceeds_its_owner() {
        let alice = Scopes::for_user("alice", false);
        let requested = vec![parse("admin:users").unwrap(), parse("read:users").unwrap()];
        let token = Scopes::for_token(&requested, "alice", &alice);
        assert_eq!(token.check(Scope::AdminUsers, user("alice", &[])), Access::Denied);
        // read:users narrows to what alice has: herself.
        assert_eq!(token.check(Scope::ReadUsers, user("alice", &[])), Access::Allowed);
        assert_eq!(token.check(Scope::ReadUsers, user("bob", &[])), Access::Hidden);
    }

    #[test]
    fn a_limited_admin_token_sees_only_what_it_names() {
        let root = Scopes::for_user("root", true);
        let token = Scopes::for_token(&[parse("read:users!user=bob").unwrap()], "root", &root);
        assert_eq!(token.check(Scope::ReadUsers, user("bob", &[])), Access::Allowed);
        assert_eq!(token.check(Scope::ReadUsers, user("alice", &[])), Access::Hidden);
        assert_eq!(
            token.check(Scope::Servers, Resource::Server { user: "bob", server: "", groups: &[] }),
            Access::Denied
        );
    }

    #[test]
    fn inherit_gives_the_owner_scopes() {
        let alice = Scopes::for_user("alice", false);
        assert_eq!(Scopes::for_token(&[Requested::Inherit], "alice", &alice), alice);
    }

    #[test]
    fn scope_strings_show_filters() {
        assert!(Scopes::for_user("alice", false).to_strings().contains(&"read:users!user=alice".to_owned()));
    }
}
