//! `groups` and `group_members`.

use sqlx::FromRow;

use super::{now_ms, Db, Pool};

#[derive(Debug, Clone, FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub properties: String,
}

pub async fn list(pool: &Pool, offset: i64, limit: i64) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as::<_, GroupRow>("SELECT id, name, properties FROM groups ORDER BY name LIMIT $1 OFFSET $2")
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

pub async fn by_name(pool: &Pool, name: &str) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as::<_, GroupRow>("SELECT id, name, properties FROM groups WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// The same, inside a transaction.
pub async fn by_name_in(conn: &mut super::DbConn, name: &str) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as::<_, GroupRow>("SELECT id, name, properties FROM groups WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
}

/// `Ok(None)` when the name is taken.
pub async fn insert<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    name: &str,
) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as::<_, GroupRow>(
        "INSERT INTO groups (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id, name, properties",
    )
    .bind(name)
    .bind(now_ms())
    .fetch_optional(ex)
    .await
}

pub async fn delete<'e>(ex: impl sqlx::Executor<'e, Database = Db>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM groups WHERE id = $1").bind(id).execute(ex).await?;
    Ok(())
}

pub async fn members(pool: &Pool, id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.name FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.name",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

pub async fn add_member<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    group_id: i64,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(group_id)
        .bind(user_id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn remove_member<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    group_id: i64,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn set_properties<'e>(
    ex: impl sqlx::Executor<'e, Database = Db>,
    id: i64,
    properties: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE groups SET properties = $1 WHERE id = $2")
        .bind(properties)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Members as (user id, name).
pub async fn member_ids(pool: &Pool, id: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.name FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// How many groups there are.
pub async fn count(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM groups").fetch_one(pool).await
}

/// (user id, group name) for several users at once, ordered by group name.
pub async fn of_users(pool: &Pool, user_ids: &[i64]) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT m.user_id, g.name FROM groups g JOIN group_members m ON m.group_id = g.id \
         WHERE m.user_id IN ({}) ORDER BY g.name",
        super::placeholders(1, user_ids.len())
    );
    let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
    for id in user_ids {
        query = query.bind(id);
    }
    query.fetch_all(pool).await
}
