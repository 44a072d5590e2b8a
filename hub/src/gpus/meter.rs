//! The GPU meter: sessions opened and closed inside the lifecycle's transactions, the limits that
//! apply to a person (config entries, overridden by admins' edits), and usage reports for the
//! usage pages and the CSV export. Enforcement during a session lives in
//! `crate::servers::gpu_limits`; the arithmetic in [`super::limits`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::limits::{self, Effective, Holding, Metered, Refusal};
use super::Inventory;
use crate::config::{Config, GpuLimits};
use crate::db::gpu_limits::{self as overrides, Subject};
use crate::db::gpu_sessions::{self, NewSession, SessionRow};
use crate::db::DbConn;
use crate::Hub;

const HOUR_MS: f64 = 3_600_000.0;

/// The entries that apply to a user: their own and their groups' (an admin's override replaces
/// the config's entry for its subject).
pub async fn effective(
    conn: &mut DbConn,
    config: &Config,
    user_id: i64,
    user: &str,
) -> Result<Effective, sqlx::Error> {
    let found = overrides::of_user(conn, user_id).await?;
    let own = found.user.or_else(|| config.gpu_limits.users.get(user).cloned());
    let groups: Vec<GpuLimits> = found
        .groups
        .into_iter()
        .filter_map(|(name, over)| over.or_else(|| config.gpu_limits.groups.get(&name).cloned()))
        .collect();
    Ok(limits::resolve(own.as_ref(), &groups, &config.gpu_limits.default))
}

fn metered(rows: &[SessionRow]) -> Vec<Metered> {
    rows.iter()
        .map(|s| Metered { started_at: s.started_at, ended_at: s.ended_at, units_milli: s.units_milli })
        .collect()
}

/// GPU-hours a user used in the window ending `now`, and their open sessions' total units.
pub async fn used(
    conn: &mut DbConn,
    user_id: i64,
    window_ms: i64,
    now: i64,
) -> Result<(f64, i64), sqlx::Error> {
    let rows = gpu_sessions::of_user_since(&mut *conn, user_id, now - window_ms).await?;
    let rate = rows.iter().filter(|s| s.ended_at.is_none()).map(|s| s.units_milli).sum();
    Ok((limits::used_hours(&metered(&rows), window_ms, now), rate))
}

/// Whether a start asking for `asked` units fits the user's limits (inside the start's
/// transaction, under the fleet lock: concurrent starts cannot overshoot).
pub async fn check_start(
    conn: &mut DbConn,
    config: &Config,
    user_id: i64,
    user: &str,
    asked: u32,
    now: i64,
) -> Result<Result<(), Refusal>, sqlx::Error> {
    if asked == 0 {
        return Ok(Ok(()));
    }
    let limits = effective(conn, config, user_id, user).await?;
    let (units, servers) = gpu_sessions::holding_of(conn, user_id).await?;
    let (used_hours, _) = used(conn, user_id, limits.window_ms(), now).await?;
    let holding = Holding {
        units: u32::try_from(units).unwrap_or(u32::MAX),
        servers: u32::try_from(servers).unwrap_or(u32::MAX),
        used_hours,
    };
    Ok(limits::check_start(&limits, holding, asked))
}

/// Opens the session of GPUs a start just claimed (same transaction), with its length limit.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    conn: &mut DbConn,
    config: &Config,
    inventory: &Inventory,
    server_id: i64,
    user_id: i64,
    user: &str,
    server: &str,
    size: &str,
    gpus: &[String],
    now: i64,
) -> Result<(), sqlx::Error> {
    if gpus.is_empty() {
        return Ok(());
    }
    let limits = effective(conn, config, user_id, user).await?;
    let units_milli = gpus.iter().map(|u| inventory.get(u).map_or(1000, super::Gpu::share_milli)).sum();
    let limit_at = limits.max_session_hours.map(|h| now + (h * HOUR_MS) as i64);
    let session =
        NewSession { server_id, user_id, server_name: server, size, uuids: gpus, units_milli, limit_at };
    gpu_sessions::open(conn, session, now).await
}

/// Closes a server's session (same transaction as the release).
pub async fn close(
    conn: &mut DbConn,
    server_id: i64,
    reason: Option<&str>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    gpu_sessions::close(conn, server_id, reason, now).await
}

/// One session as the usage pages show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub user: String,
    pub server: String,
    pub size: String,
    pub gpus: Vec<String>,
    /// GPUs held (a MIG slice counts its fraction).
    pub units: f64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub end_reason: Option<String>,
    /// GPU-hours of the whole session (to now while it runs).
    pub hours: f64,
    /// When a limit stops it, and which, while it runs.
    pub deadline_ms: Option<i64>,
    pub deadline_reason: Option<String>,
}

impl SessionView {
    fn of(row: &SessionRow, now: i64) -> Self {
        let metered =
            Metered { started_at: row.started_at, ended_at: row.ended_at, units_milli: row.units_milli };
        SessionView {
            user: row.user_name.clone(),
            server: row.server_name.clone(),
            size: row.size.clone(),
            gpus: row.uuids.clone(),
            units: row.units_milli as f64 / 1000.0,
            started_ms: row.started_at,
            ended_ms: row.ended_at,
            end_reason: row.end_reason.clone(),
            hours: metered.hours_between(row.started_at, now),
            deadline_ms: row.ended_at.is_none().then_some(row.deadline_at).flatten(),
            deadline_reason: row.ended_at.is_none().then(|| row.deadline_reason.clone()).flatten(),
        }
    }
}

/// One person's usage: "12.5 of 30 GPU-hours used in the last 7 days", and their sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserUsage {
    pub user: String,
    pub limits: Effective,
    pub used_hours: f64,
    pub sessions: Vec<SessionView>,
}

pub async fn usage_of(hub: &Hub, user_id: i64, user: &str) -> Result<UserUsage, sqlx::Error> {
    let now = hub.clock().now_ms();
    let mut conn = hub.db().acquire().await?;
    let limits = effective(&mut conn, hub.config(), user_id, user).await?;
    let rows = gpu_sessions::of_user_since(&mut *conn, user_id, now - limits.window_ms()).await?;
    let used_hours = limits::used_hours(&metered(&rows), limits.window_ms(), now);
    let sessions = rows.iter().map(|r| SessionView::of(r, now)).collect();
    Ok(UserUsage { user: user.to_owned(), limits, used_hours, sessions })
}

/// One line of the admin's report: a user or a group, its limits and its use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportLine {
    pub name: String,
    /// Users: their effective limits. Groups: the group's entry (override, else config).
    pub limits: Effective,
    /// Where the limits come from: `override` (set on the admin page), `config`, or `default`.
    pub source: LimitSource,
    /// The entry as set (override or config), for the edit form.
    pub entry: GpuLimits,
    /// GPU-hours in the line's window.
    pub used_hours: f64,
    pub sessions: usize,
    /// Units held now.
    pub gpus_now: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitSource {
    Override,
    Config,
    Default,
}

impl LimitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitSource::Override => "override",
            LimitSource::Config => "config",
            LimitSource::Default => "default",
        }
    }
}

/// Usage per user and per group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub users: Vec<ReportLine>,
    pub groups: Vec<ReportLine>,
    pub default: GpuLimits,
}

/// The admin's report: every user (with sessions in the longest window, or limits of their own)
/// and every group (its members' use summed over the group's window).
pub async fn report(hub: &Hub) -> Result<Report, sqlx::Error> {
    let now = hub.clock().now_ms();
    let config = hub.config();
    let mut conn = hub.db().acquire().await?;
    let set = overrides::all(&mut *conn).await?;
    let longest = 366 * 86_400_000_i64;
    let rows = gpu_sessions::all_since(&mut *conn, now - longest).await?;
    let mut by_user: BTreeMap<i64, (String, Vec<SessionRow>)> = BTreeMap::new();
    for row in rows {
        by_user.entry(row.user_id).or_insert_with(|| (row.user_name.clone(), Vec::new())).1.push(row);
    }
    for (subject, name, _) in &set {
        if let Subject::User(id) = subject {
            by_user.entry(*id).or_insert_with(|| (name.clone(), Vec::new()));
        }
    }
    for name in config.gpu_limits.users.keys() {
        if let Ok(user_name) = crate::domain::UserName::parse(name) {
            if let Some(user) = crate::db::users::by_name(hub.db(), &user_name).await? {
                by_user.entry(user.id).or_insert_with(|| (name.clone(), Vec::new()));
            }
        }
    }
    let mut users = Vec::new();
    for (user_id, (name, sessions)) in &by_user {
        let limits = effective(&mut conn, config, *user_id, name).await?;
        let (source, entry) = match set.iter().find(|(s, _, _)| *s == Subject::User(*user_id)) {
            Some((_, _, l)) => (LimitSource::Override, l.clone()),
            None => match config.gpu_limits.users.get(name) {
                Some(l) => (LimitSource::Config, l.clone()),
                None => (LimitSource::Default, GpuLimits::default()),
            },
        };
        users.push(line(name, limits, source, entry, sessions, now));
    }
    let mut groups = Vec::new();
    let group_rows = crate::db::groups::list(hub.db(), 0, i64::MAX).await?;
    for group in group_rows {
        let (source, entry) = match set.iter().find(|(s, _, _)| *s == Subject::Group(group.id)) {
            Some((_, _, l)) => (LimitSource::Override, l.clone()),
            None => match config.gpu_limits.groups.get(&group.name) {
                Some(l) => (LimitSource::Config, l.clone()),
                None => (LimitSource::Default, GpuLimits::default()),
            },
        };
        let members = crate::db::groups::member_ids(hub.db(), group.id).await?;
        let sessions: Vec<SessionRow> = members
            .iter()
            .filter_map(|(id, _)| by_user.get(id))
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        let limits = limits::resolve(Some(&entry), &[], &config.gpu_limits.default);
        groups.push(line(&group.name, limits, source, entry, &sessions, now));
    }
    Ok(Report { users, groups, default: config.gpu_limits.default.clone() })
}

fn line(
    name: &str,
    limits: Effective,
    source: LimitSource,
    entry: GpuLimits,
    sessions: &[SessionRow],
    now: i64,
) -> ReportLine {
    let window = limits.window_ms();
    let inside: Vec<SessionRow> =
        sessions.iter().filter(|s| s.ended_at.is_none_or(|e| e > now - window)).cloned().collect();
    let used_hours = limits::used_hours(&metered(&inside), window, now);
    let gpus_now =
        sessions.iter().filter(|s| s.ended_at.is_none()).map(|s| s.units_milli as f64 / 1000.0).sum();
    ReportLine { name: name.to_owned(), limits, source, entry, used_hours, sessions: inside.len(), gpus_now }
}

/// The report as CSV: one line per user and per group.
pub fn csv(report: &Report) -> String {
    fn cell(v: Option<impl ToString>) -> String {
        v.map(|v| v.to_string()).unwrap_or_default()
    }
    fn quote(s: &str) -> String {
        // A leading =, +, - or @ would be a formula to a spreadsheet: such names are quoted as text.
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = String::from(
        "kind,name,gpu_hours_used,window_days,gpu_hours_limit,sessions,gpus_now,gpus_at_once,gpu_servers_at_once,max_session_hours,limits_from\r\n",
    );
    for (kind, lines) in [("user", &report.users), ("group", &report.groups)] {
        for l in lines {
            out.push_str(&format!(
                "{kind},{},{:.3},{},{},{},{},{},{},{},{}\r\n",
                quote(&l.name),
                l.used_hours,
                l.limits.window_days,
                cell(l.limits.gpu_hours),
                l.sessions,
                l.gpus_now,
                cell(l.limits.gpus_at_once),
                cell(l.limits.gpu_servers_at_once),
                cell(l.limits.max_session_hours),
                l.source.as_str(),
            ));
        }
    }
    out
}

/// Whose limits an admin edits, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectName {
    User(String),
    Group(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("there is no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl crate::error::Classify for LimitsError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass as C;
        match self {
            LimitsError::NotFound(_) => C::NotFound,
            LimitsError::Invalid(_) => C::Invalid,
            LimitsError::Db(_) => C::Internal,
        }
    }
}

/// Sets a user's or a group's limits from the admin page (`None`: back to the config's entry),
/// with its audit row. The limits apply from the next start and the meter's next round.
pub async fn set_override(
    hub: &Hub,
    actor: Option<&str>,
    subject: &SubjectName,
    limits: Option<GpuLimits>,
) -> Result<(), LimitsError> {
    if let Some(l) = &limits {
        l.validate("limits").map_err(|e| LimitsError::Invalid(e.to_string()))?;
    }
    let (id, target) = match subject {
        SubjectName::User(name) => {
            let parsed = crate::domain::UserName::parse(name).map_err(|_| LimitsError::NotFound("user"))?;
            let user =
                crate::db::users::by_name(hub.db(), &parsed).await?.ok_or(LimitsError::NotFound("user"))?;
            (Subject::User(user.id), format!("user:{name}"))
        }
        SubjectName::Group(name) => {
            let group =
                crate::db::groups::by_name(hub.db(), name).await?.ok_or(LimitsError::NotFound("group"))?;
            (Subject::Group(group.id), format!("group:{name}"))
        }
    };
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    let detail = match &limits {
        Some(l) => {
            overrides::set(&mut tx, id, l, actor, now).await?;
            serde_json::to_value(l).unwrap_or_default()
        }
        None => {
            overrides::clear(&mut tx, id).await?;
            serde_json::json!({ "cleared": true })
        }
    };
    crate::db::events::record(&mut *tx, actor, "gpu.limits", Some(&target), detail).await?;
    tx.commit().await?;
    Ok(())
}
