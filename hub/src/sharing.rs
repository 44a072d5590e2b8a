//! JupyterHub 5's sharing: an owner shares a server with a user or a group, or makes a share
//! code (a link with an expiry) that gives a share to whoever accepts it. A recipient opens the
//! server through the OAuth flow, with a consent page; a revoked share stops working at once
//! (the proxy and the OAuth provider ask the database each time; OAuth tokens the recipient got
//! for the server are deleted with the share).

use serde_json::json;

use crate::accounts::User;
pub use crate::db::shares::ShareRow;
use crate::db::shares::{self, Recipient};
use crate::db::{self, events};
use crate::domain::{ServerName, UserName};
use crate::secret::SecretToken;
use crate::Hub;

/// Shortest and longest life of a share code (JupyterHub's bounds), and its default.
pub const CODE_MIN_SECONDS: i64 = 60;
pub const CODE_MAX_SECONDS: i64 = 31_536_000;
pub const CODE_DEFAULT_SECONDS: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("there is no such server")]
    NoServer,
    #[error("there is no such {0}")]
    NoRecipient(&'static str),
    #[error("a server cannot be shared with its owner")]
    WithOwner,
    #[error("expires_in must be from {CODE_MIN_SECONDS} to {CODE_MAX_SECONDS} seconds")]
    BadExpiry,
    #[error("the share code is unknown or expired")]
    UnknownCode,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl crate::error::Classify for ShareError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            ShareError::NoServer | ShareError::NoRecipient(_) | ShareError::UnknownCode => C::NotFound,
            ShareError::WithOwner => C::Forbidden,
            ShareError::BadExpiry => C::Invalid,
            ShareError::Db(_) => C::Internal,
        }
    }
}

impl ShareRow {
    /// The shared server's URL (as [`crate::servers::base_url`] spells it).
    pub fn url(&self) -> String {
        match (UserName::parse(&self.owner), ServerName::parse(&self.server)) {
            (Ok(owner), Ok(server)) => crate::servers::base_url(&owner, &server),
            _ => format!("/user/{}/", self.owner),
        }
    }
}

/// Whom to share with, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum With {
    User(String),
    Group(String),
}

fn access_scope(owner: &UserName, server: &ServerName) -> String {
    format!("access:servers!server={owner}/{server}")
}

async fn server_id(hub: &Hub, owner: &User, server: &ServerName) -> Result<i64, ShareError> {
    let row = db::servers::get(hub.db(), owner.id, server).await.map_err(ShareError::Db)?;
    row.map(|r| r.id).ok_or(ShareError::NoServer)
}

async fn recipient(hub: &Hub, owner: &User, with: &With) -> Result<Recipient, ShareError> {
    match with {
        With::User(name) => {
            let name = UserName::parse(name).map_err(|_| ShareError::NoRecipient("user"))?;
            if name == owner.name {
                return Err(ShareError::WithOwner);
            }
            let user = db::users::by_name(hub.db(), &name).await?.ok_or(ShareError::NoRecipient("user"))?;
            Ok(Recipient::User(user.id))
        }
        With::Group(name) => {
            let group = db::groups::by_name(hub.db(), name).await?.ok_or(ShareError::NoRecipient("group"))?;
            Ok(Recipient::Group(group.id))
        }
    }
}

fn target(owner: &User, server: &ServerName) -> String {
    format!("{}/{}", owner.name, server)
}

/// Shares `owner`'s `server` with a user or a group (again: nothing changes). True when new.
pub async fn share(
    hub: &Hub,
    actor: Option<&str>,
    owner: &User,
    server: &ServerName,
    with: &With,
) -> Result<bool, ShareError> {
    let id = server_id(hub, owner, server).await?;
    let to = recipient(hub, owner, with).await?;
    let scopes = serde_json::to_string(&[access_scope(&owner.name, server)]).unwrap_or_default();
    let mut tx = hub.db().begin().await?;
    let made = shares::upsert(&mut tx, id, to, &scopes, hub.clock().now_ms()).await?;
    if made {
        events::record(
            &mut *tx,
            actor,
            "share.create",
            Some(&target(owner, server)),
            json!({ "with": describe(with) }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(made)
}

fn describe(with: &With) -> String {
    match with {
        With::User(n) => format!("user:{n}"),
        With::Group(n) => format!("group:{n}"),
    }
}

/// Revokes one recipient's share (`None`: all of the server's). Their OAuth tokens for the
/// server go with it. Returns how many shares ended.
pub async fn revoke(
    hub: &Hub,
    actor: Option<&str>,
    owner: &User,
    server: &ServerName,
    with: Option<&With>,
) -> Result<u64, ShareError> {
    let id = server_id(hub, owner, server).await?;
    let to = match with {
        Some(w) => Some(recipient(hub, owner, w).await?),
        None => None,
    };
    let mut tx = hub.db().begin().await?;
    let ended = shares::delete(&mut tx, id, to).await?;
    // Tokens of people other than the owner, issued for this server's client: gone.
    crate::db::bump_auth_generation();
    sqlx::query(
        "DELETE FROM api_tokens WHERE user_id <> $1 AND oauth_client IN (SELECT id FROM oauth_clients WHERE server_id = $2)",
    )
    .bind(owner.id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let detail = json!({ "with": with.map(describe).unwrap_or_else(|| "everyone".into()), "ended": ended });
    events::record(&mut *tx, actor, "share.revoke", Some(&target(owner, server)), detail).await?;
    tx.commit().await?;
    crate::db::bump_auth_generation();
    Ok(ended)
}

/// Shares of an owner's servers (one server's when given).
pub async fn of_owner(
    hub: &Hub,
    owner: &User,
    server: Option<&ServerName>,
) -> Result<Vec<ShareRow>, ShareError> {
    let id = match server {
        Some(s) => Some(server_id(hub, owner, s).await?),
        None => None,
    };
    Ok(shares::of_owner(hub.db(), owner.id, id).await?)
}

/// What is shared with `user`.
pub async fn shared_with(hub: &Hub, user: &User) -> Result<Vec<ShareRow>, ShareError> {
    Ok(shares::with_user(hub.db(), user.id).await?)
}

/// What a person may do: the `user` role (and `admin`), the config's `[[roles]]` naming them or
/// one of their groups, and what is shared with them.
pub async fn scopes_of(hub: &Hub, user: &User) -> Result<crate::scopes::Scopes, sqlx::Error> {
    let base = crate::scopes::Scopes::for_user(user.name.as_str(), user.is_admin);
    let roles = &hub.config().roles;
    let mut strings: Vec<String> = Vec::new();
    if !roles.is_empty() {
        let groups = db::groups_of(hub.db(), user.id).await?;
        for role in roles {
            let named = role.users.iter().any(|u| u == user.name.as_str());
            let by_group = role.groups.iter().any(|g| groups.contains(g));
            if named || by_group {
                strings.extend(role.scopes.iter().cloned());
            }
        }
    }
    let shared = shares::with_user(hub.db(), user.id).await?;
    strings.extend(
        shared.iter().flat_map(|s| serde_json::from_str::<Vec<String>>(&s.scopes).unwrap_or_default()),
    );
    Ok(base.with_shared(strings.iter().map(String::as_str)))
}

/// Whether `viewer` may open `owner`'s `server` without being its owner or an admin: an explicit
/// `access:servers` grant in their scopes names the server, its owner or one of the owner's
/// groups — a share, or a `[[roles]]` entry. Asked each time, so a revoked share ends at once.
pub async fn may_open(
    hub: &Hub,
    viewer: &User,
    owner: &UserName,
    owner_id: i64,
    server: &str,
) -> Result<bool, sqlx::Error> {
    use crate::scopes::{Access, Resource, Scope, Scopes};
    let scopes = scopes_of(hub, viewer).await?;
    let explicit = Scopes::expand(scopes.grants().filter(|g| g.filter.is_some()).cloned());
    let groups = db::groups_of(hub.db(), owner_id).await?;
    let resource = Resource::Server { user: owner.as_str(), server, groups: &groups };
    Ok(explicit.check(Scope::AccessServers, resource) == Access::Allowed)
}

/// A new share code: the code (shown once) and its id (`sc_N`).
pub struct NewCode {
    pub code: SecretToken,
    pub id: i64,
    pub expires_at: i64,
}

pub async fn create_code(
    hub: &Hub,
    actor: Option<&str>,
    owner: &User,
    server: &ServerName,
    expires_in_seconds: Option<i64>,
) -> Result<NewCode, ShareError> {
    let seconds = expires_in_seconds.unwrap_or(CODE_DEFAULT_SECONDS);
    if !(CODE_MIN_SECONDS..=CODE_MAX_SECONDS).contains(&seconds) {
        return Err(ShareError::BadExpiry);
    }
    let id = server_id(hub, owner, server).await?;
    let now = hub.clock().now_ms();
    let code = SecretToken::generate();
    let scopes = serde_json::to_string(&[access_scope(&owner.name, server)]).unwrap_or_default();
    let expires_at = now + seconds * 1000;
    let mut tx = hub.db().begin().await?;
    let code_id = shares::insert_code(&mut tx, id, &code.hash(), &scopes, now, expires_at).await?;
    events::record(
        &mut *tx,
        actor,
        "share.code",
        Some(&target(owner, server)),
        json!({ "id": format!("sc_{code_id}"), "expires_at": expires_at }),
    )
    .await?;
    tx.commit().await?;
    Ok(NewCode { code, id: code_id, expires_at })
}

/// The server a live code is for: its owner's name and server name (for the accept page).
pub async fn code_target(hub: &Hub, code: &str) -> Result<(String, String, i64), ShareError> {
    let now = hub.clock().now_ms();
    let mut conn = hub.db().acquire().await?;
    let (_, server_id, _) = shares::live_code(&mut conn, &SecretToken::from_presented(code).hash(), now)
        .await?
        .ok_or(ShareError::UnknownCode)?;
    let row = db::servers::by_id(hub.db(), server_id)
        .await
        .map_err(ShareError::Db)?
        .ok_or(ShareError::UnknownCode)?;
    Ok((row.user_name.to_string(), row.name.to_string(), row.user_id))
}

/// `user` accepts a code: the server is shared with them (the code may be accepted again, by
/// others, until it expires). Returns the server's URL.
pub async fn accept_code(hub: &Hub, user: &User, code: &str) -> Result<String, ShareError> {
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    let (code_id, server_id, scopes) =
        shares::exchange_code(&mut tx, &SecretToken::from_presented(code).hash(), now)
            .await?
            .ok_or(ShareError::UnknownCode)?;
    let row = db::servers::by_id(&mut *tx, server_id)
        .await
        .map_err(ShareError::Db)?
        .ok_or(ShareError::UnknownCode)?;
    if row.user_id == user.id {
        return Err(ShareError::WithOwner);
    }
    shares::upsert(&mut tx, server_id, Recipient::User(user.id), &scopes, now).await?;
    let target = format!("{}/{}", row.user_name, row.name);
    events::record(
        &mut *tx,
        Some(user.name.as_str()),
        "share.accept",
        Some(&target),
        json!({ "code": format!("sc_{code_id}") }),
    )
    .await?;
    tx.commit().await?;
    Ok(crate::servers::base_url(&row.user_name, &row.name))
}
