//! Local accounts: creating users, checking passwords with lockout, sign-up and approval.

mod lockout;
mod password_hash;

use serde_json::json;
use tracing::{info, warn};

use crate::access::Changed;
use crate::change::{Audit, Change};
use crate::config::LocalAuthConfig;
use crate::db::{self, users, Pool};
use crate::domain::{Password, PasswordError, UserName, UserNameError};
use crate::Hub;

pub use lockout::SignInClient;
pub use password_hash::{
    hash_password, verify_password, workers as password_workers, HashError, PasswordWorkers,
};

/// A user as the rest of the hub sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: UserName,
    pub is_admin: bool,
    pub approved: bool,
    pub blocked: bool,
    pub created_at: i64,
    pub last_activity: Option<i64>,
    /// `local` or `oidc`: how the account signs in.
    pub auth_source: String,
    pub has_password: bool,
}

impl User {
    pub(crate) fn from_row(row: users::UserRow) -> Result<Self, AccountError> {
        let name = UserName::parse(&row.name).map_err(|e| {
            AccountError::Unexpected(anyhow::anyhow!("stored user name {:?} is invalid: {e}", row.name))
        })?;
        Ok(Self {
            id: row.id,
            name,
            is_admin: row.is_admin,
            approved: row.approved,
            blocked: row.blocked,
            created_at: row.created_at,
            last_activity: row.last_activity,
            has_password: row.password_hash.is_some(),
            auth_source: row.auth_source,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    InvalidName(#[from] UserNameError),
    #[error(transparent)]
    InvalidPassword(#[from] PasswordError),
    #[error("a user named {0} already exists")]
    AlreadyExists(UserName),
    #[error("there is no user named {0}")]
    NoSuchUser(UserName),
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("self sign-up is turned off on this hub")]
    SignupDisabled,
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

/// Why a sign-in did not succeed. The first two say nothing about whether the name exists.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("Invalid user name or password.")]
    InvalidCredentials,
    #[error("Too many failed sign-ins. Try again in {retry_after_seconds} seconds.")]
    LockedOut { retry_after_seconds: u64 },
    #[error("Your account is waiting for an administrator's approval.")]
    PendingApproval,
    #[error("Your account is blocked. Ask an administrator.")]
    Blocked,
    /// Every password worker stayed busy; nothing was checked or counted.
    #[error("The hub is busy. Try again in {retry_after_seconds} seconds.")]
    Busy { retry_after_seconds: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<HashError> for LoginError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after_seconds } => Self::Busy { retry_after_seconds },
            HashError::Failed(e) => Self::Unexpected(e),
        }
    }
}

impl From<sqlx::Error> for LoginError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

/// What a new account looks like.
pub struct NewAccount<'a> {
    pub name: &'a UserName,
    pub password: Option<&'a Password>,
    pub is_admin: bool,
    pub approved: bool,
}

/// Creates a user; records `user.create` with `actor`.
pub async fn create_user(
    hub: &Hub,
    actor: Option<&str>,
    account: NewAccount<'_>,
) -> Result<User, AccountError> {
    let password_hash = match account.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let mut change = Change::begin(hub).await?;
    let row = users::insert(
        change.conn(),
        users::NewUser {
            name: account.name,
            password_hash,
            is_admin: account.is_admin,
            approved: account.approved,
        },
    )
    .await?
    .ok_or_else(|| AccountError::AlreadyExists(account.name.clone()))?;
    let detail = json!({ "admin": account.is_admin, "approved": account.approved });
    change.commit(Audit::new(actor, "user.create", account.name.as_str(), detail)).await?;
    info!(user.name = %account.name, admin = account.is_admin, "user created");
    User::from_row(row)
}

pub(crate) async fn find(pool: &Pool, name: &UserName) -> Result<Option<User>, AccountError> {
    users::by_name(pool, name).await?.map(User::from_row).transpose()
}

pub(crate) async fn find_by_id(pool: &Pool, id: i64) -> Result<Option<User>, AccountError> {
    users::by_id(pool, id).await?.map(User::from_row).transpose()
}

pub(crate) async fn list(pool: &Pool) -> Result<Vec<User>, AccountError> {
    users::list(pool).await?.into_iter().map(User::from_row).collect()
}

/// Checks a sign-in attempt from `client`.
///
/// Failures are counted per normalised name and client address whether or not the user exists,
/// and a password is always verified (against a dummy hash for unknown names), so neither the
/// answer, the lockout nor the timing reveals which names exist. Each attempt claims its place under
/// the limit *before* the password is checked, in one statement, so concurrent attempts cannot
/// exceed it. Only after the right password does the answer say that an account is pending or
/// blocked.
pub async fn authenticate(
    hub: &Hub,
    policy: &LocalAuthConfig,
    raw_name: &str,
    password: &str,
    client: &SignInClient,
) -> Result<User, LoginError> {
    let began = std::time::Instant::now();
    let result = check_sign_in(hub, policy, raw_name, password, client).await;
    hub.metrics().login(crate::metrics::Outcome::of(&result), began.elapsed());
    result
}

async fn check_sign_in(
    hub: &Hub,
    policy: &LocalAuthConfig,
    raw_name: &str,
    password: &str,
    client: &SignInClient,
) -> Result<User, LoginError> {
    let pool = hub.db();
    if password.len() > crate::domain::PASSWORD_MAX_LEN {
        return Err(LoginError::InvalidCredentials);
    }
    let Ok(name) = UserName::parse(raw_name) else {
        // No such user can exist; spend the same effort as a real check.
        let _ = verify_password(password, None).await?;
        return Err(LoginError::InvalidCredentials);
    };
    let window_ms = i64::try_from(policy.lockout_window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let since = db::now_ms().saturating_sub(window_ms);
    let limit = i64::from(policy.lockout_max_failures);
    let Some(attempt) = users::claim_attempt(pool, name.as_str(), client.as_str(), since, limit).await?
    else {
        let oldest =
            users::oldest_failure_since(pool, name.as_str(), client.as_str(), since).await?.unwrap_or(since);
        let ends = oldest.saturating_add(window_ms);
        let retry_after_seconds = u64::try_from((ends - db::now_ms()).max(1000) / 1000).unwrap_or(1);
        warn!(user.name = %name, client = %client, "sign-in refused: locked out");
        return Err(LoginError::LockedOut { retry_after_seconds });
    };
    let row = users::by_name(pool, &name).await?;
    let hash = row.as_ref().and_then(|r| r.password_hash.clone());
    let ok = match verify_password(password, hash.as_deref()).await {
        Ok(ok) => ok && hash.is_some(),
        Err(e) => {
            // Not checked, so not a failure.
            users::release_attempt(pool, attempt).await?;
            return Err(e.into());
        }
    };
    if !ok {
        // The claimed attempt stays: it is the recorded failure.
        info!(user.name = %name, client = %client, "sign-in failed");
        return Err(LoginError::InvalidCredentials);
    }
    users::clear_client_failures(pool, name.as_str(), client.as_str()).await?;
    let Some(row) = row else {
        return Err(LoginError::InvalidCredentials);
    };
    let user = User::from_row(row).map_err(|e| LoginError::Unexpected(anyhow::anyhow!(e)))?;
    if user.blocked {
        return Err(LoginError::Blocked);
    }
    if !user.approved {
        return Err(LoginError::PendingApproval);
    }
    users::touch(pool, user.id).await?;
    Ok(user)
}

/// Ends any lock-out of `name` (every client's failures are forgotten): the administrator's
/// recovery path, `ganymede user unlock NAME`. Returns how many failures were forgotten.
pub async fn unlock(hub: &Hub, actor: Option<&str>, name: &UserName) -> Result<u64, AccountError> {
    let mut change = Change::begin(hub).await?;
    let cleared = users::clear_failures(change.conn(), name.as_str()).await?;
    change.commit(Audit::new(actor, "user.unlock", name.as_str(), json!({ "failures": cleared }))).await?;
    info!(user.name = %name, cleared, "sign-in failures forgotten");
    Ok(cleared)
}

/// A signed-in user changes their own password after proving the current one.
pub async fn change_password(
    hub: &Hub,
    policy: &LocalAuthConfig,
    user: &User,
    current: &str,
    new: &str,
) -> Result<(), AccountError> {
    let row =
        users::by_id(hub.db(), user.id).await?.ok_or_else(|| AccountError::NoSuchUser(user.name.clone()))?;
    if !verify_password(current, row.password_hash.as_deref()).await? || row.password_hash.is_none() {
        return Err(AccountError::WrongCurrentPassword);
    }
    let new = Password::parse(new, &user.name, policy.password_policy())?;
    let hash = hash_password(&new).await?;
    let mut change = Change::begin(hub).await?;
    users::set_password_hash(change.conn(), user.id, &hash).await?;
    change.forgets(Changed::User(user.id));
    let name = user.name.as_str();
    change.commit(Audit::new(Some(name), "user.password_change", name, json!({}))).await?;
    Ok(())
}

/// An administrator (or the CLI) sets a password; the user's sessions end and their sign-in
/// failures are forgotten, in one transaction with its audit row.
pub async fn set_password(
    hub: &Hub,
    actor: Option<&str>,
    policy: &LocalAuthConfig,
    name: &UserName,
    new: &str,
) -> Result<(), AccountError> {
    let user = find(hub.db(), name).await?.ok_or_else(|| AccountError::NoSuchUser(name.clone()))?;
    let new = Password::parse(new, name, policy.password_policy())?;
    let hash = hash_password(&new).await?;
    let mut change = Change::begin(hub).await?;
    users::set_password_hash(change.conn(), user.id, &hash).await?;
    db::sessions::delete_for_user(change.conn(), user.id).await?;
    users::clear_failures(change.conn(), name.as_str()).await?;
    change.forgets(Changed::User(user.id));
    change.commit(Audit::new(actor, "user.password_reset", name.as_str(), json!({}))).await?;
    Ok(())
}

/// Someone asks for an account; it waits for approval.
pub async fn sign_up(
    hub: &Hub,
    policy: &LocalAuthConfig,
    raw_name: &str,
    password: &str,
) -> Result<User, AccountError> {
    if !policy.allow_signup {
        return Err(AccountError::SignupDisabled);
    }
    let name = UserName::parse(raw_name)?;
    let password = Password::parse(password, &name, policy.password_policy())?;
    create_user(
        hub,
        Some(name.as_str()),
        NewAccount { name: &name, password: Some(&password), is_admin: false, approved: false },
    )
    .await
}

pub async fn approve(hub: &Hub, actor: Option<&str>, name: &UserName) -> Result<(), AccountError> {
    account_change(hub, name, "user.approve", actor, json!({}), |conn, name| {
        Box::pin(users::set_approved(conn, name))
    })
    .await
}

pub async fn set_admin(
    hub: &Hub,
    actor: Option<&str>,
    name: &UserName,
    admin: bool,
) -> Result<(), AccountError> {
    account_change(hub, name, "user.set_admin", actor, json!({ "admin": admin }), move |conn, name| {
        Box::pin(users::set_admin(conn, name, admin))
    })
    .await
}

pub async fn remove(hub: &Hub, actor: Option<&str>, name: &UserName) -> Result<(), AccountError> {
    account_change(hub, name, "user.delete", actor, json!({}), |conn, name| {
        Box::pin(users::delete(conn, name))
    })
    .await
}

/// Removes an idle user for the culler (`[culler] cull_users`): only if they are still idle since
/// before `cutoff` with every server stopped; the audit row says why. False when they no longer are.
pub async fn cull(hub: &Hub, name: &UserName, cutoff: i64, reason: &str) -> Result<bool, AccountError> {
    let detail = json!({ "reason": reason });
    match account_change(hub, name, "user.cull", None, detail, |conn, name| {
        Box::pin(users::delete_if_idle(conn, name, cutoff))
    })
    .await
    {
        Ok(()) => Ok(true),
        Err(AccountError::NoSuchUser(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

type Statement<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + 'c>>;

/// One statement on one account (false: no such account), its audit row, and the access
/// policy's memory of the account dropped after the commit.
async fn account_change(
    hub: &Hub,
    name: &UserName,
    action: &str,
    actor: Option<&str>,
    detail: serde_json::Value,
    statement: impl for<'c> FnOnce(&'c mut db::DbConn, &'c UserName) -> Statement<'c>,
) -> Result<(), AccountError> {
    let user = find(hub.db(), name).await?.ok_or_else(|| AccountError::NoSuchUser(name.clone()))?;
    let mut change = Change::begin(hub).await?;
    if !statement(change.conn(), name).await? {
        return Err(AccountError::NoSuchUser(name.clone()));
    }
    change.forgets(Changed::User(user.id));
    change.commit(Audit::new(actor, action, name.as_str(), detail)).await?;
    Ok(())
}

/// One page of users and the total matching (see [`users::PageQuery`]).
pub(crate) async fn page(pool: &Pool, query: &users::PageQuery) -> Result<(Vec<User>, i64), AccountError> {
    let (rows, total) = users::page(pool, query).await?;
    let list = rows.into_iter().map(User::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok((list, total))
}

/// Renames a user; their servers must be stopped (their URLs contain the name).
pub async fn rename(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    new_name: &UserName,
) -> Result<(), AccountError> {
    let mut change = Change::begin(hub).await?;
    if !users::rename(change.conn(), user.id, new_name).await? {
        return Err(AccountError::AlreadyExists(new_name.clone()));
    }
    change.forgets(Changed::User(user.id));
    let audit = Audit::new(actor, "user.rename", user.name.as_str(), json!({ "to": new_name.as_str() }));
    change.commit(audit).await?;
    Ok(())
}

impl crate::error::Classify for AccountError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            AccountError::InvalidName(_)
            | AccountError::InvalidPassword(_)
            | AccountError::WrongCurrentPassword => C::Invalid,
            AccountError::AlreadyExists(_) => C::Conflict,
            AccountError::NoSuchUser(_) => C::NotFound,
            AccountError::SignupDisabled => C::Forbidden,
            AccountError::Hashing(e) => e.class(),
            AccountError::Unexpected(_) => C::Internal,
        }
    }
}

impl crate::error::Classify for HashError {
    fn class(&self) -> crate::error::ErrorClass {
        match self {
            HashError::Busy { retry_after_seconds } => {
                crate::error::ErrorClass::Unavailable { retry_after_seconds: *retry_after_seconds }
            }
            HashError::Failed(_) => crate::error::ErrorClass::Internal,
        }
    }
}

impl crate::error::Classify for LoginError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            LoginError::InvalidCredentials => C::Invalid,
            LoginError::LockedOut { retry_after_seconds } => {
                C::Throttled { retry_after_seconds: *retry_after_seconds }
            }
            LoginError::PendingApproval | LoginError::Blocked => C::Forbidden,
            LoginError::Busy { retry_after_seconds } => {
                C::Unavailable { retry_after_seconds: *retry_after_seconds }
            }
            LoginError::Unexpected(_) => C::Internal,
        }
    }
}
