//! JupyterHub 5's sharing: an owner shares a server with a user or a group, or makes a share
//! code (a link with an expiry) that gives a share to whoever accepts it. A recipient opens the
//! server through the OAuth flow, with a consent page. What a share grants is part of the
//! recipient's scopes in [`crate::access`]; a revoked share stops working at once (the change
//! drops the recipients' remembered scopes after its commit and closes what they had open; OAuth
//! tokens the recipients got for the server are deleted with the share).

use serde_json::json;

use crate::access::Changed;
use crate::accounts::User;
use crate::change::{Audit, Change};
pub use crate::db::shares::ShareRow;
use crate::db::shares::{self, Recipient};
use crate::db::{self, DbConn};
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
    let scopes = crate::scopes::encode_stored(&[access_scope(&owner.name, server)]);
    let mut change = Change::begin(hub).await?;
    if !shares::upsert(change.conn(), id, to, &scopes, hub.clock().now_ms()).await? {
        return Ok(false);
    }
    let affected = affects(change.conn(), to).await?;
    change.forgets(affected);
    let target = target(owner, server);
    change.commit(Audit::new(actor, "share.create", &target, json!({ "with": describe(with) }))).await?;
    Ok(true)
}

/// Whose scopes a share with this recipient changes.
async fn affects(conn: &mut DbConn, to: Recipient) -> Result<Changed, sqlx::Error> {
    Ok(match to {
        Recipient::User(id) => Changed::User(id),
        Recipient::Group(id) => {
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            Changed::Group(name.unwrap_or_default())
        }
    })
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
    let mut change = Change::begin(hub).await?;
    let ended = shares::delete(change.conn(), id, to).await?;
    // Tokens of people other than the owner, issued for this server's client: gone.
    sqlx::query(
        "DELETE FROM api_tokens WHERE user_id <> $1 AND oauth_client IN (SELECT id FROM oauth_clients WHERE server_id = $2)",
    )
    .bind(owner.id)
    .bind(id)
    .execute(&mut *change.conn())
    .await?;
    for recipient in &ended {
        let affected = affects(change.conn(), *recipient).await?;
        change.forgets(affected);
    }
    change.forgets(Changed::Server(id));
    let count = ended.len() as u64;
    let detail = json!({ "with": with.map(describe).unwrap_or_else(|| "everyone".into()), "ended": count });
    change.commit(Audit::new(actor, "share.revoke", &target(owner, server), detail)).await?;
    Ok(count)
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
    let scopes = crate::scopes::encode_stored(&[access_scope(&owner.name, server)]);
    let expires_at = now + seconds * 1000;
    let mut change = Change::begin(hub).await?;
    let code_id = shares::insert_code(change.conn(), id, &code.hash(), &scopes, now, expires_at).await?;
    let detail = json!({ "id": format!("sc_{code_id}"), "expires_at": expires_at });
    change.commit(Audit::new(actor, "share.code", &target(owner, server), detail)).await?;
    Ok(NewCode { code, id: code_id, expires_at })
}

/// The server a live code is for: its owner's name and server name (for the accept page).
pub async fn code_target(hub: &Hub, code: &str) -> Result<(String, String, i64), ShareError> {
    let now = hub.clock().now_ms();
    let live = {
        // Given back before the next query takes one.
        let mut conn = hub.db().acquire().await?;
        shares::live_code(&mut conn, &SecretToken::from_presented(code).hash(), now).await?
    };
    let (_, server_id, _) = live.ok_or(ShareError::UnknownCode)?;
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
    let mut change = Change::begin(hub).await?;
    let (code_id, server_id, scopes) =
        shares::exchange_code(change.conn(), &SecretToken::from_presented(code).hash(), now)
            .await?
            .ok_or(ShareError::UnknownCode)?;
    let row = db::servers::by_id(&mut *change.conn(), server_id)
        .await
        .map_err(ShareError::Db)?
        .ok_or(ShareError::UnknownCode)?;
    if row.user_id == user.id {
        return Err(ShareError::WithOwner);
    }
    shares::upsert(change.conn(), server_id, Recipient::User(user.id), &scopes, now).await?;
    change.forgets(Changed::User(user.id));
    let target = format!("{}/{}", row.user_name, row.name);
    let audit = Audit::new(
        Some(user.name.as_str()),
        "share.accept",
        &target,
        json!({ "code": format!("sc_{code_id}") }),
    );
    change.commit(audit).await?;
    Ok(crate::servers::base_url(&row.user_name, &row.name))
}
