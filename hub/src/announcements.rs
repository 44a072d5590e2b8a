//! Admins' announcements: Markdown text on the sign-in page, the dashboard or every page, until
//! an optional expiry. Stored in the database and read at each page view, so they change without
//! a restart (JupyterHub's `announcement` templates need one). Rendering is the pages' job; the
//! text is kept as the admin wrote it.

use serde_json::json;

use crate::change::{Audit, Change};
use crate::db::announcements::{self as rows, AnnouncementRow, NewRow};
use crate::Hub;

/// The longest announcement, in characters.
pub const MAX_CHARS: usize = 4000;

/// Where an announcement shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The sign-in page.
    Login,
    /// The dashboard (`/hub/home`).
    Dashboard,
    /// Every page, the sign-in page and the dashboard included.
    All,
}

impl Placement {
    pub const ALL: [Placement; 3] = [Self::Login, Self::Dashboard, Self::All];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Dashboard => "dashboard",
            Self::All => "all",
        }
    }

    pub fn parse(text: &str) -> Result<Self, AnnouncementError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| AnnouncementError::Placement(text.to_owned()))
    }
}

/// The page being shown, which decides the announcements it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Login,
    Dashboard,
    Other,
}

impl Page {
    fn placements(self) -> &'static [&'static str] {
        match self {
            Page::Login => &["login", "all"],
            Page::Dashboard => &["dashboard", "all"],
            Page::Other => &["all"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub id: i64,
    /// Markdown, as the admin wrote it.
    pub body: String,
    pub placement: Placement,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub expires_at: Option<i64>,
}

impl TryFrom<AnnouncementRow> for Announcement {
    type Error = AnnouncementError;
    fn try_from(row: AnnouncementRow) -> Result<Self, Self::Error> {
        Ok(Announcement {
            id: row.id,
            body: row.body,
            placement: Placement::parse(&row.placement)?,
            created_at: row.created_at,
            created_by: row.created_by,
            expires_at: row.expires_at,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnnouncementError {
    #[error("an announcement needs some text")]
    Empty,
    #[error("an announcement is at most {MAX_CHARS} characters (this one has {0})")]
    TooLong(usize),
    #[error("{0:?} is not a placement: login, dashboard or all")]
    Placement(String),
    #[error("the expiry is in the past")]
    ExpiresInThePast,
    #[error("there is no announcement {0}")]
    NotFound(i64),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AnnouncementError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

impl crate::error::Classify for AnnouncementError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            Self::Empty | Self::TooLong(_) | Self::Placement(_) | Self::ExpiresInThePast => C::Invalid,
            Self::NotFound(_) => C::NotFound,
            Self::Unexpected(_) => C::Internal,
        }
    }
}

/// Publishes an announcement (audited).
pub async fn create(
    hub: &Hub,
    actor: Option<&str>,
    body: &str,
    placement: Placement,
    expires_at: Option<i64>,
) -> Result<i64, AnnouncementError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(AnnouncementError::Empty);
    }
    let chars = body.chars().count();
    if chars > MAX_CHARS {
        return Err(AnnouncementError::TooLong(chars));
    }
    let now = hub.clock().now_ms();
    if expires_at.is_some_and(|at| at <= now) {
        return Err(AnnouncementError::ExpiresInThePast);
    }
    let mut change = Change::begin(hub).await?;
    let new = NewRow { body, placement: placement.as_str(), created_by: actor, expires_at };
    let id = rows::insert(change.conn(), new, now).await?;
    let detail = json!({ "placement": placement.as_str(), "expires_at": expires_at, "chars": chars });
    change.commit(Audit::new(actor, "announcement.create", &id.to_string(), detail)).await?;
    Ok(id)
}

/// Takes an announcement down (audited).
pub async fn remove(hub: &Hub, actor: Option<&str>, id: i64) -> Result<(), AnnouncementError> {
    let mut change = Change::begin(hub).await?;
    if !rows::delete(change.conn(), id).await? {
        return Err(AnnouncementError::NotFound(id));
    }
    change.commit(Audit::new(actor, "announcement.remove", &id.to_string(), json!({}))).await?;
    Ok(())
}

/// Every announcement, expired ones included (the admin's list).
pub async fn all(hub: &Hub) -> Result<Vec<Announcement>, AnnouncementError> {
    rows::all(hub.db()).await?.into_iter().map(Announcement::try_from).collect()
}

/// What `page` shows now.
pub async fn shown_on(hub: &Hub, page: Page) -> Result<Vec<Announcement>, AnnouncementError> {
    rows::current(hub.db(), page.placements(), hub.clock().now_ms())
        .await?
        .into_iter()
        .map(Announcement::try_from)
        .collect()
}
