//! `gpu_limit_overrides`: GPU limits an admin set for one user or one group on the admin page.
//! Each replaces the config's `[gpu_limits]` entry for its subject.

use sqlx::Row;

use super::{Db, DbConn};
use crate::config::GpuLimits;

/// Whose limits a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User(i64),
    Group(i64),
}

fn decode(text: &str) -> Result<GpuLimits, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The user's own override, and each of their groups: its name and override (if any).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub user: Option<GpuLimits>,
    pub groups: Vec<(String, Option<GpuLimits>)>,
}

pub async fn of_user(conn: &mut DbConn, user_id: i64) -> Result<Overrides, sqlx::Error> {
    let user = sqlx::query_scalar::<_, String>("SELECT limits FROM gpu_limit_overrides WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|t| decode(&t))
        .transpose()?;
    let rows = sqlx::query(
        "SELECT g.name, o.limits FROM group_members m JOIN groups g ON g.id = m.group_id \
         LEFT JOIN gpu_limit_overrides o ON o.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let groups = rows
        .iter()
        .map(|r| {
            let limits: Option<String> = r.try_get("limits")?;
            Ok((r.try_get("name")?, limits.map(|t| decode(&t)).transpose()?))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Overrides { user, groups })
}

/// Every override: (`user` or `group`, its name, its limits).
pub async fn all<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
) -> Result<Vec<(Subject, String, GpuLimits)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.user_id, o.group_id, COALESCE(u.name, g.name) AS name, o.limits FROM gpu_limit_overrides o \
         LEFT JOIN users u ON u.id = o.user_id LEFT JOIN groups g ON g.id = o.group_id ORDER BY name",
    )
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let user: Option<i64> = r.try_get("user_id")?;
            let group: Option<i64> = r.try_get("group_id")?;
            let subject = match (user, group) {
                (Some(u), _) => Subject::User(u),
                (None, Some(g)) => Subject::Group(g),
                (None, None) => return Err(sqlx::Error::Decode("an override for nobody".into())),
            };
            let limits: String = r.try_get("limits")?;
            Ok((subject, r.try_get("name")?, decode(&limits)?))
        })
        .collect()
}

/// Sets (replaces) a subject's override.
pub async fn set(
    conn: &mut DbConn,
    subject: Subject,
    limits: &GpuLimits,
    by: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    clear(conn, subject).await?;
    let (user, group) = match subject {
        Subject::User(id) => (Some(id), None),
        Subject::Group(id) => (None, Some(id)),
    };
    let text = serde_json::to_string(limits).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO gpu_limit_overrides (user_id, group_id, limits, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user)
    .bind(group)
    .bind(text)
    .bind(now)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a subject's override (the config's entry applies again). True when there was one.
pub async fn clear(conn: &mut DbConn, subject: Subject) -> Result<bool, sqlx::Error> {
    let (column, id) = match subject {
        Subject::User(id) => ("user_id", id),
        Subject::Group(id) => ("group_id", id),
    };
    let done =
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM gpu_limit_overrides WHERE {column} = $1")))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}
