//! API tokens: random, shown once, stored as SHA-256, with a note, an optional expiry and scopes
//! that never exceed the owner's.

use serde_json::json;

use crate::access::Changed;
use crate::accounts::{AccountError, User};
use crate::change::{Audit, Change};
use crate::db::{self, tokens::TokenRow};
use crate::scopes::{self, Requested, ScopeError, Scopes};
use crate::secret::SecretToken;
use crate::Hub;

/// Longest note kept with a token.
pub const MAX_NOTE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("the token cannot have scope {0}: its owner does not have it")]
    ExceedsOwner(String),
    #[error("the note is longer than {MAX_NOTE} characters")]
    NoteTooLong,
    #[error("expires_in must be a positive number of seconds")]
    BadExpiry,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

impl From<AccountError> for TokenError {
    fn from(e: AccountError) -> Self {
        Self::Unexpected(anyhow::anyhow!(e))
    }
}

impl From<crate::access::AccessError> for TokenError {
    fn from(e: crate::access::AccessError) -> Self {
        Self::Unexpected(anyhow::anyhow!(e))
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub prefix: String,
    pub note: String,
    /// As requested (`inherit`, `self`, or scopes with filters).
    pub requested: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_activity: Option<i64>,
}

/// A new token: the value, shown to its owner once, and its listing.
#[derive(Debug)]
pub struct NewToken {
    pub token: SecretToken,
    pub info: TokenInfo,
}

pub(crate) fn info(row: TokenRow, user: &str) -> TokenInfo {
    TokenInfo {
        id: row.id,
        user: user.to_owned(),
        prefix: row.prefix,
        note: row.note,
        requested: scopes::decode_stored(&row.scopes),
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_activity: row.last_activity,
    }
}

fn requested(list: &[String]) -> Result<Vec<Requested>, ScopeError> {
    list.iter().map(|s| scopes::parse(s)).collect()
}

/// Creates a token for `owner`. Without scopes it inherits everything the owner may do.
pub async fn create(
    hub: &Hub,
    actor: Option<&str>,
    owner: &User,
    note: &str,
    expires_in_seconds: Option<i64>,
    scope_list: Option<Vec<String>>,
) -> Result<NewToken, TokenError> {
    if note.chars().count() > MAX_NOTE {
        return Err(TokenError::NoteTooLong);
    }
    let expires_at = match expires_in_seconds {
        None => None,
        Some(s) if s > 0 => Some(db::now_ms().saturating_add(s.saturating_mul(1000))),
        Some(_) => return Err(TokenError::BadExpiry),
    };
    let scope_list = scope_list.unwrap_or_else(|| vec!["inherit".to_owned()]);
    let asked = requested(&scope_list)?;
    let owner_scopes = crate::access::scopes_of(hub, owner).await?;
    for (raw, r) in scope_list.iter().zip(&asked) {
        if let Requested::Grant(g) = r {
            let kept = Scopes::for_token(std::slice::from_ref(r), owner.name.as_str(), &owner_scopes);
            if !kept.has_any(g.scope) {
                return Err(TokenError::ExceedsOwner(raw.clone()));
            }
        }
    }
    let token = SecretToken::generate();
    let prefix: String = token.expose().chars().take(4).collect();
    let stored = serde_json::to_string(&scope_list).map_err(|e| TokenError::Unexpected(e.into()))?;
    let mut change = Change::begin(hub).await?;
    let row = db::tokens::insert(
        change.conn(),
        db::tokens::NewTokenRow {
            user_id: owner.id,
            token_hash: &token.hash(),
            prefix: &prefix,
            note,
            scopes: &stored,
            expires_at,
        },
    )
    .await?;
    let audit =
        Audit::new(actor, "token.create", owner.name.as_str(), json!({ "token_id": row.id, "note": note }));
    change.commit(audit).await?;
    Ok(NewToken { token, info: info(row, owner.name.as_str()) })
}

/// A listing with the latest use, written or still batched in memory.
fn listed(hub: &Hub, row: TokenRow, owner: &User) -> TokenInfo {
    let mut listing = info(row, owner.name.as_str());
    if let Some(at) = hub.access().unwritten_use(listing.id) {
        listing.last_activity = Some(listing.last_activity.map_or(at, |old| old.max(at)));
    }
    listing
}

pub async fn list(hub: &Hub, owner: &User) -> Result<Vec<TokenInfo>, TokenError> {
    Ok(db::tokens::for_user(hub.db(), owner.id).await?.into_iter().map(|r| listed(hub, r, owner)).collect())
}

pub async fn get(hub: &Hub, owner: &User, id: i64) -> Result<Option<TokenInfo>, TokenError> {
    Ok(db::tokens::get(hub.db(), owner.id, id).await?.map(|r| listed(hub, r, owner)))
}

/// Revokes a token; false when the owner has no such token.
/// Revokes a token (and ends what it opened); false when the owner has no such token.
pub async fn revoke(hub: &Hub, actor: Option<&str>, owner: &User, id: i64) -> Result<bool, TokenError> {
    let mut change = Change::begin(hub).await?;
    if !db::tokens::delete(change.conn(), owner.id, id).await? {
        return Ok(false);
    }
    change.forgets(Changed::Token(id));
    change.commit(Audit::new(actor, "token.revoke", owner.name.as_str(), json!({ "token_id": id }))).await?;
    Ok(true)
}

impl crate::error::Classify for TokenError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            TokenError::Scope(_) | TokenError::NoteTooLong | TokenError::BadExpiry => C::Invalid,
            TokenError::ExceedsOwner(_) => C::Forbidden,
            TokenError::Unexpected(_) => C::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::NewAccount;
    use crate::config::Config;
    use crate::domain::UserName;
    use crate::scopes::{Access, Resource, Scope};

    type Store = (tempfile::TempDir, Option<crate::db::testing::ScratchDatabase>);

    /// A hub on SQLite in a temporary directory, or on a fresh database of the server that
    /// `GANYMEDE_TEST_DATABASE` names.
    async fn hub_with(users: &[(&str, bool)]) -> (crate::Hub, Vec<User>, Store) {
        let dir = tempfile::tempdir().unwrap();
        let scratch = crate::db::testing::ScratchDatabase::from_env();
        let mut config = Config::default();
        config.hub.data_dir = dir.path().to_owned();
        config.database.url = scratch.as_ref().map(|db| db.url().to_owned());
        let hub = crate::Hub::open(config).await.unwrap();
        let mut out = Vec::new();
        for (name, admin) in users {
            let name = UserName::parse(name).unwrap();
            out.push(
                crate::accounts::create_user(
                    &hub,
                    None,
                    NewAccount { name: &name, password: None, is_admin: *admin, approved: true },
                )
                .await
                .unwrap(),
            );
        }
        (hub, out, (dir, scratch))
    }

    #[tokio::test]
    async fn a_token_is_shown_once_and_stored_hashed() {
        let (hub, users, _dir) = hub_with(&[("alice", false)]).await;
        let new = create(&hub, None, &users[0], "laptop", None, None).await.unwrap();
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(hub.db()).await.unwrap();
        assert_eq!(stored, vec![new.token.hash()]);
        assert_ne!(stored[0], new.token.expose());
        let who = crate::access::token(&hub, new.token.expose()).await.unwrap().unwrap();
        assert_eq!(who.user.name.as_str(), "alice");
        assert_eq!(who.token.note, "laptop");
        assert_eq!(*who.scopes, Scopes::for_user("alice", false));
        assert!(crate::access::token(&hub, "not-a-token").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_limited_token_keeps_its_limits() {
        let (hub, users, _dir) = hub_with(&[("root", true)]).await;
        let scopes = Some(vec!["read:users!user=bob".to_owned()]);
        let new = create(&hub, None, &users[0], "", None, scopes).await.unwrap();
        let granted = crate::access::token(&hub, new.token.expose()).await.unwrap().unwrap().scopes;
        assert_eq!(
            granted.check(Scope::ReadUsers, Resource::User { name: "bob", groups: &[] }),
            Access::Allowed
        );
        assert_eq!(
            granted.check(Scope::ReadUsers, Resource::User { name: "alice", groups: &[] }),
            Access::Hidden
        );
        assert_eq!(
            granted.check(Scope::Servers, Resource::Server { user: "bob", server: "", groups: &[] }),
            Access::Denied
        );
    }

    #[tokio::test]
    async fn a_token_cannot_ask_for_more_than_its_owner_has() {
        let (hub, users, _dir) = hub_with(&[("alice", false)]).await;
        let err =
            create(&hub, None, &users[0], "", None, Some(vec!["admin:users".into()])).await.unwrap_err();
        assert!(matches!(err, TokenError::ExceedsOwner(_)), "{err}");
        let err = create(&hub, None, &users[0], "", None, Some(vec!["bogus".into()])).await.unwrap_err();
        assert!(matches!(err, TokenError::Scope(_)), "{err}");
    }

    #[tokio::test]
    async fn expired_and_revoked_tokens_stop_working() {
        let (hub, users, _dir) = hub_with(&[("alice", false)]).await;
        assert!(matches!(create(&hub, None, &users[0], "", Some(0), None).await, Err(TokenError::BadExpiry)));
        let short = create(&hub, None, &users[0], "", Some(1), None).await.unwrap();
        assert!(crate::access::token(&hub, short.token.expose()).await.unwrap().is_some());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        // Remembered or not, an expired token is refused.
        assert!(crate::access::token(&hub, short.token.expose()).await.unwrap().is_none());

        let other = create(&hub, None, &users[0], "", None, None).await.unwrap();
        // Remembered by the policy, then revoked: refused at once.
        assert!(crate::access::token(&hub, other.token.expose()).await.unwrap().is_some());
        assert!(revoke(&hub, None, &users[0], other.info.id).await.unwrap());
        assert!(!revoke(&hub, None, &users[0], other.info.id).await.unwrap());
        assert!(crate::access::token(&hub, other.token.expose()).await.unwrap().is_none());
        assert_eq!(list(&hub, &users[0]).await.unwrap().len(), 1);
    }
}
