//! Who may do what: the one place that answers it (as JupyterHub's `scopes.py` does there).
//!
//! A principal — a browser session's user, an API token, an OAuth token a server got for a
//! browser — has effective scopes: the `user` role (and `admin` for admins), the config's
//! `[[roles]]` that name the user or one of their groups, and what is shared with them; a token
//! has what it asked for within its owner's. They are computed once and kept in [`Policy`]
//! (per session, per token, per user) until a committed change concerns them
//! ([`Changed`], applied by [`crate::change::Change::commit`]) or [`cache::TTL`] passes.
//!
//! A service (`[[services]]`) presents a token too ([`bearer`]); its scopes are exactly those of
//! the roles that list it.
//!
//! Every gate asks here and nowhere else: the proxy and its websockets ([`open_server`]), the
//! OAuth provider (the same, and [`may_open_service`]), `/hub/spawn` ([`may_start`]), the REST
//! API ([`bearer`], [`scopes_of`]) and the pages ([`is_admin`]). Open websockets listen to the changes
//! ([`Policy::subscribe`]) and ask again, so a revoked share or token, a signed-out session or
//! a demoted admin ends what was already open too.

mod cache;

use std::sync::Arc;
use std::time::Instant;

pub use cache::{Changed, Policy, TTL};
use cache::{SessionEntry, TokenEntry, UserEntry};

use crate::accounts::{self, User};
use crate::db;
use crate::domain::UserName;
use crate::scopes::{self, Access, Requested, Resource, Scope, Scopes};
use crate::secret::SecretToken;
use crate::tokens::TokenInfo;
use crate::Hub;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("checking access failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("checking access failed: {0}")]
    Account(#[from] accounts::AccountError),
}

impl crate::error::Classify for AccessError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Internal
    }
}

/// A signed-in browser: its session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user: User,
}

/// The user behind a presented session cookie value, when the session is live and the account
/// usable (approved, not blocked).
pub async fn session(hub: &Hub, presented: &str) -> Result<Option<Session>, AccessError> {
    if presented.is_empty() || presented.len() > 128 {
        return Ok(None);
    }
    let hash = SecretToken::from_presented(presented).hash();
    let now = db::now_ms();
    let policy = hub.access();
    if let Some(entry) = policy.session(&hash, now) {
        return Ok(Some(Session { id: entry.session_id, user: entry.user }));
    }
    let generation = policy.generation();
    let Some(row) = db::sessions::live_by_hash(hub.db(), &hash).await? else { return Ok(None) };
    let Some(user) = accounts::find_by_id(hub.db(), row.user_id).await? else { return Ok(None) };
    if user.blocked || !user.approved {
        return Ok(None);
    }
    let entry = SessionEntry {
        session_id: row.id,
        user: user.clone(),
        expires_at: row.expires_at,
        at: Instant::now(),
    };
    policy.put_session(generation, hash, entry);
    Ok(Some(Session { id: row.id, user }))
}

/// A caller of the REST API (or of a server, through the proxy) with an API or OAuth token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub scopes: Arc<Scopes>,
    pub token: TokenInfo,
}

/// Whoever presents an API token: a user (an API or OAuth token) or a `[[services]]` entry.
#[derive(Debug, Clone)]
pub enum Bearer {
    User(Box<Principal>),
    Service(Arc<crate::services::Service>),
}

/// Who presented a token to the REST API: a service (its token is known from the config and the
/// hub secret, without a query) or else a user's token ([`token`]).
pub async fn bearer(hub: &Hub, presented: &str) -> Result<Option<Bearer>, AccessError> {
    if presented.is_empty() || presented.len() > 256 {
        return Ok(None);
    }
    let hash = SecretToken::from_presented(presented).hash();
    if let Some(service) = hub.services().by_token_hash(&hash) {
        return Ok(Some(Bearer::Service(Arc::clone(service))));
    }
    Ok(token_by_hash(hub, hash).await?.map(|p| Bearer::User(Box::new(p))))
}

/// Who a presented user token belongs to and what it may do, when it is valid. Its "last used"
/// is noted in memory and written in batches ([`flush_token_use`]).
pub async fn token(hub: &Hub, presented: &str) -> Result<Option<Principal>, AccessError> {
    if presented.is_empty() || presented.len() > 256 {
        return Ok(None);
    }
    token_by_hash(hub, SecretToken::from_presented(presented).hash()).await
}

async fn token_by_hash(hub: &Hub, hash: String) -> Result<Option<Principal>, AccessError> {
    let now = db::now_ms();
    let policy = hub.access();
    let entry = match policy.token(&hash, now) {
        Some(entry) => entry,
        None => {
            let generation = policy.generation();
            let Some(row) = db::tokens::live_for_auth(hub.db(), &hash).await? else { return Ok(None) };
            let Some(user) = accounts::find_by_id(hub.db(), row.token.user_id).await? else {
                return Ok(None);
            };
            if user.blocked || !user.approved {
                return Ok(None);
            }
            let info = crate::tokens::info(row.token, user.name.as_str());
            let requested = info.requested.iter().filter_map(|s| scopes::parse(s).ok()).collect();
            let entry = TokenEntry {
                expires_at: info.expires_at,
                info,
                requested,
                user,
                session_id: row.session_id,
                server_id: row.server_id,
                at: Instant::now(),
            };
            policy.put_token(generation, hash, entry.clone());
            entry
        }
    };
    policy.touch_token(entry.info.id, now);
    let owner = user_entry(hub, &entry.user).await?;
    let scopes = Arc::new(token_scopes(&entry.requested, &entry.user, &owner.scopes));
    Ok(Some(Principal { user: entry.user, scopes, token: entry.info }))
}

fn token_scopes(requested: &[Requested], owner: &User, owner_scopes: &Scopes) -> Scopes {
    Scopes::for_token(requested, owner.name.as_str(), owner_scopes)
}

/// Writes the "last used" of the tokens used since the last call. Returns how many.
pub async fn flush_token_use(hub: &Hub) -> Result<usize, AccessError> {
    let batch = hub.access().take_touched();
    if batch.is_empty() {
        return Ok(0);
    }
    let mut conn = hub.db().acquire().await?;
    for (id, at) in &batch {
        db::tokens::record_use(&mut conn, *id, *at).await?;
    }
    Ok(batch.len())
}

async fn user_entry(hub: &Hub, user: &User) -> Result<UserEntry, AccessError> {
    let policy = hub.access();
    if let Some(entry) = policy.user(user.id) {
        return Ok(entry);
    }
    let generation = policy.generation();
    let groups = db::groups_of(hub.db(), user.id).await?;
    let shared = db::shares::with_user(hub.db(), user.id).await?;
    let mut granted: Vec<String> = Vec::new();
    for role in &hub.config().roles {
        let named = role.users.iter().any(|u| u == user.name.as_str());
        let by_group = role.groups.iter().any(|g| groups.contains(g));
        if named || by_group {
            granted.extend(role.scopes.iter().cloned());
        }
    }
    granted.extend(shared.iter().flat_map(|s| scopes::decode_stored(&s.scopes)));
    let scopes =
        Scopes::for_user(user.name.as_str(), user.is_admin).with_shared(granted.iter().map(String::as_str));
    let entry = UserEntry { groups: Arc::new(groups), scopes: Arc::new(scopes), at: Instant::now() };
    policy.put_user(generation, user.id, entry.clone());
    Ok(entry)
}

/// What a person may do: the `user` role (and `admin`), the `[[roles]]` naming them or one of
/// their groups, and what is shared with them.
pub async fn scopes_of(hub: &Hub, user: &User) -> Result<Arc<Scopes>, AccessError> {
    Ok(user_entry(hub, user).await?.scopes)
}

/// The groups a user belongs to (sorted), as group filters see them.
pub async fn groups_of(hub: &Hub, user_id: i64) -> Result<Arc<Vec<String>>, AccessError> {
    let policy = hub.access();
    if let Some(groups) = policy.groups(user_id) {
        return Ok(groups);
    }
    let generation = policy.generation();
    let groups = Arc::new(db::groups_of(hub.db(), user_id).await?);
    policy.put_groups(generation, user_id, groups.clone());
    Ok(groups)
}

/// Whether a person administers the hub (the admin pages and their actions): the admin role's
/// unfiltered `admin-ui`, `admin:users`, `admin:servers` and `admin:groups`, from the admin flag
/// or a `[[roles]]` entry.
pub async fn is_admin(hub: &Hub, user: &User) -> Result<bool, AccessError> {
    let scopes = scopes_of(hub, user).await?;
    Ok([Scope::AdminUi, Scope::AdminUsers, Scope::AdminServers, Scope::AdminGroups]
        .into_iter()
        .all(|scope| scopes.check(scope, Resource::Hub) == Access::Allowed))
}

/// A server as the gates name it.
#[derive(Debug, Clone, Copy)]
pub struct ServerRef<'a> {
    pub owner_id: i64,
    pub owner: &'a UserName,
    /// `""` for the default server.
    pub server: &'a str,
}

impl<'a> ServerRef<'a> {
    pub fn of(owner: &'a User, server: &'a str) -> Self {
        Self { owner_id: owner.id, owner: &owner.name, server }
    }
}

/// Who asks to open a server.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// A signed-in browser.
    Person(&'a User),
    /// An API or OAuth token (`Authorization: token …`).
    Token(&'a Principal),
    /// A service's own token: its roles' scopes alone decide, as in JupyterHub (a service with
    /// `access:servers`, filtered or not, reaches those servers).
    Service(&'a crate::services::Service),
}

/// The answer to "may this reach the server?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Its owner (or the owner's token).
    Owner,
    /// An admin, where `servers.admin_access` allows it.
    Admin,
    /// Through a share or a `[[roles]]` entry naming the server, its owner or one of the owner's
    /// groups (the OAuth provider asks such a person to consent first).
    Granted,
    Denied,
}

impl Opening {
    pub fn allowed(self) -> bool {
        self != Opening::Denied
    }
}

/// Whether `who` may open `target` (the proxy, its websockets, the OAuth provider).
pub async fn open_server(hub: &Hub, who: Who<'_>, target: ServerRef<'_>) -> Result<Opening, AccessError> {
    let admin_access = hub.config().servers.admin_access;
    match who {
        Who::Person(viewer) => {
            if viewer.id == target.owner_id {
                return Ok(Opening::Owner);
            }
            if viewer.is_admin && admin_access {
                return Ok(Opening::Admin);
            }
            let scopes = scopes_of(hub, viewer).await?;
            Ok(if explicitly(hub, &scopes, target).await? { Opening::Granted } else { Opening::Denied })
        }
        Who::Token(principal) => {
            let own = principal.user.id == target.owner_id;
            if own || admin_access {
                let groups = groups_of(hub, target.owner_id).await?;
                let resource = server_resource(target, &groups);
                if principal.scopes.check(Scope::AccessServers, resource) == Access::Allowed {
                    return Ok(if own { Opening::Owner } else { Opening::Admin });
                }
            }
            // A grant naming this server, its owner or a group is an explicit share and always
            // counts; an admin's unfiltered access:servers follows `servers.admin_access`.
            Ok(if explicitly(hub, &principal.scopes, target).await? {
                Opening::Granted
            } else {
                Opening::Denied
            })
        }
        Who::Service(service) => {
            if target.owner_id == 0 {
                return Ok(Opening::Denied);
            }
            let groups = groups_of(hub, target.owner_id).await?;
            Ok(
                if service.scopes.check(Scope::AccessServers, server_resource(target, &groups))
                    == Access::Allowed
                {
                    Opening::Granted
                } else {
                    Opening::Denied
                },
            )
        }
    }
}

fn server_resource<'a>(target: ServerRef<'a>, groups: &'a [String]) -> Resource<'a> {
    Resource::Server { user: target.owner.as_str(), server: target.server, groups }
}

/// Whether a filtered `access:servers` grant covers the target.
async fn explicitly(hub: &Hub, scopes: &Scopes, target: ServerRef<'_>) -> Result<bool, AccessError> {
    let explicit = Scopes::expand(
        scopes.grants().filter(|g| g.scope == Scope::AccessServers && g.filter.is_some()).cloned(),
    );
    if !explicit.has_any(Scope::AccessServers) {
        return Ok(false);
    }
    let groups = groups_of(hub, target.owner_id).await?;
    Ok(explicit.check(Scope::AccessServers, server_resource(target, &groups)) == Access::Allowed)
}

/// Whether `who` may start (or stop) `target`: `start:servers` on it — their own, an admin's,
/// or a `[[roles]]` grant such as `servers!group=students`. Hidden and denied both say no.
pub async fn may_start(hub: &Hub, who: &User, target: ServerRef<'_>) -> Result<Access, AccessError> {
    let scopes = scopes_of(hub, who).await?;
    let groups = groups_of(hub, target.owner_id).await?;
    Ok(scopes.check(Scope::StartServers, server_resource(target, &groups)))
}

/// Whether `who` may read `target`'s log: whoever may start or stop it (its owner, admins, a
/// `[[roles]]` grant of `servers` on it).
pub async fn may_read_log(hub: &Hub, who: &User, target: ServerRef<'_>) -> Result<bool, AccessError> {
    Ok(may_start(hub, who, target).await? == Access::Allowed)
}

/// Whether a person may sign in to a service through the OAuth provider: `access:services` on
/// it (admins have it; others through a `[[roles]]` entry).
pub async fn may_open_service(hub: &Hub, who: &User, service: &str) -> Result<bool, AccessError> {
    let scopes = scopes_of(hub, who).await?;
    Ok(scopes.check(Scope::AccessServices, Resource::Service { name: service }) == Access::Allowed)
}

/// Whether a change concerns what a person opened under their session (a websocket to a
/// service), so that it must ask [`may_open_service`] again: a change to the person, to that
/// session, or to any group (a role may name one).
pub fn concerns_person(change: &Changed, viewer_id: i64, session_id: i64) -> bool {
    match change {
        Changed::User(id) => *id == viewer_id,
        Changed::Session(id) => *id == session_id,
        Changed::Group(_) => true,
        Changed::Token(_) | Changed::Server(_) => false,
    }
}

/// Whether `who` may start anyone's servers (an unfiltered `start:servers`).
pub async fn may_start_any(hub: &Hub, who: &User) -> Result<bool, AccessError> {
    Ok(scopes_of(hub, who).await?.check(Scope::StartServers, Resource::Hub) == Access::Allowed)
}

/// Whether a change concerns a connection opened by `who` to the server `server_id` of `owner_id`
/// (so the connection must ask again): a change to its principal, its session or token, the
/// server, or any group (group filters may have opened it). Changes to an owner's groups do not
/// concern the owner's own connections.
pub fn concerns(
    change: &Changed,
    viewer_id: i64,
    session_id: Option<i64>,
    token_id: Option<i64>,
    owner_id: i64,
    server_id: i64,
) -> bool {
    match change {
        Changed::User(id) => *id == viewer_id || *id == owner_id,
        Changed::Group(_) => viewer_id != owner_id,
        Changed::Session(id) => Some(*id) == session_id,
        Changed::Token(id) => Some(*id) == token_id,
        Changed::Server(id) => *id == server_id,
    }
}
