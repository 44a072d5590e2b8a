//! Listing users, for the REST API's `GET /users` and the admin page alike: a typed order and
//! filters, parsed from their text once, and one query for the page (filters included) plus one
//! each for the page's servers and groups.

use std::str::FromStr;

use crate::accounts::{self, AccountError, User};
use crate::db::users::PageQuery;
pub use crate::db::users::{SortKey, StateFilter};
use crate::servers::{self, ServerError, ServerInfo};
use crate::Hub;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("invalid sort {0:?}: use id, name or last_activity, with - for descending")]
    BadOrder(String),
    #[error("invalid state {0:?}: use active, ready or inactive")]
    BadState(String),
}

impl crate::error::Classify for ListError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Invalid
    }
}

/// The order of a listing: `name`, `-name`, `id`, `-id`, `last_activity`, `-last_activity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserOrder {
    pub key: SortKey,
    pub descending: bool,
}

impl FromStr for UserOrder {
    type Err = ListError;

    fn from_str(text: &str) -> Result<Self, ListError> {
        let (descending, key) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let key = match key {
            "id" => SortKey::Id,
            "name" => SortKey::Name,
            "last_activity" => SortKey::LastActivity,
            _ => return Err(ListError::BadOrder(text.to_owned())),
        };
        Ok(UserOrder { key, descending })
    }
}

impl FromStr for StateFilter {
    type Err = ListError;

    /// `active` (a server starting, running or stopping), `ready` (one running), `inactive`
    /// (none active); empty for everyone.
    fn from_str(text: &str) -> Result<Self, ListError> {
        match text {
            "" => Ok(StateFilter::Any),
            "active" => Ok(StateFilter::Active),
            "ready" => Ok(StateFilter::Ready),
            "inactive" => Ok(StateFilter::Inactive),
            other => Err(ListError::BadState(other.to_owned())),
        }
    }
}

/// Which users, in which order, which window.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub state: StateFilter,
    pub order: UserOrder,
    /// Part of the name, any case; blank means no filter.
    pub name_filter: Option<String>,
    /// Only these user names and members of these groups (a token's `!user=` / `!group=`
    /// filters); `None`: everyone.
    pub visible: Option<(Vec<String>, Vec<String>)>,
    pub offset: i64,
    pub limit: i64,
}

/// A listed user with their servers and groups.
#[derive(Debug, Clone)]
pub struct Listed {
    pub user: User,
    pub servers: Vec<ServerInfo>,
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl crate::error::Classify for ListingError {
    fn class(&self) -> crate::error::ErrorClass {
        match self {
            ListingError::Account(e) => e.class(),
            ListingError::Server(e) => e.class(),
        }
    }
}

/// One page of users and how many match in all.
pub async fn list(hub: &Hub, query: &UserQuery) -> Result<(Vec<Listed>, i64), ListingError> {
    let name_filter =
        query.name_filter.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned);
    let page = PageQuery {
        state: query.state,
        sort: query.order.key,
        descending: query.order.descending,
        name_filter,
        visible: query.visible.clone(),
        offset: query.offset.max(0),
        limit: query.limit.max(0),
    };
    let (users, total) = accounts::page(hub.db(), &page).await?;
    let mut details = servers::page_details(hub, &users).await?;
    let listed = users
        .into_iter()
        .map(|user| {
            let (servers, groups) = details.remove(&user.id).unwrap_or_default();
            Listed { user, servers, groups }
        })
        .collect();
    Ok((listed, total))
}

/// The names of the groups the user with this id belongs to, sorted (as the access policy
/// remembers them).
pub async fn groups_of(hub: &Hub, user_id: i64) -> Result<Vec<String>, AccountError> {
    match crate::access::groups_of(hub, user_id).await {
        Ok(groups) => Ok(groups.as_ref().clone()),
        Err(e) => Err(AccountError::Unexpected(anyhow::anyhow!(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_states_parse_from_their_text_or_say_what_is_allowed() {
        assert_eq!("-last_activity".parse(), Ok(UserOrder { key: SortKey::LastActivity, descending: true }));
        assert_eq!("name".parse(), Ok(UserOrder { key: SortKey::Name, descending: false }));
        assert_eq!("--name".parse::<UserOrder>(), Err(ListError::BadOrder("--name".into())));
        assert_eq!("ready".parse(), Ok(StateFilter::Ready));
        assert_eq!("".parse(), Ok(StateFilter::Any));
        assert!("Active"
            .parse::<StateFilter>()
            .unwrap_err()
            .to_string()
            .contains("active, ready or inactive"));
    }
}
