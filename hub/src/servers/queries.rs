//! Reading servers: one user's, one by name, a page of users' at once, every active one.

use super::*;

pub async fn list(hub: &Hub, user: &User) -> Result<Vec<ServerInfo>, ServerError> {
    Ok(db::servers::for_user(hub.db(), user.id).await?.into_iter().map(info_from).collect())
}

/// The servers and groups of a page of users, in two queries whatever the page size: what user
/// listings show. Keyed by user id.
pub async fn page_details(
    hub: &Hub,
    users: &[User],
) -> Result<std::collections::HashMap<i64, (Vec<ServerInfo>, Vec<String>)>, ServerError> {
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let mut out: std::collections::HashMap<i64, (Vec<ServerInfo>, Vec<String>)> =
        users.iter().map(|u| (u.id, (Vec::new(), Vec::new()))).collect();
    for row in db::servers::for_users(hub.db(), &ids).await? {
        match row {
            Ok(row) => out.entry(row.user_id).or_default().0.push(info_from(row)),
            // Left out of the listing, named in the log; the user's other servers and everyone
            // else's are listed as usual. Reading that user alone reports the error.
            Err(bad) => {
                tracing::error!(error = %bad, "a server row does not parse; left out of the user listing")
            }
        }
    }
    for (user_id, group) in db::groups::of_users(hub.db(), &ids).await? {
        out.entry(user_id).or_default().1.push(group);
    }
    Ok(out)
}

pub async fn get(hub: &Hub, user: &User, server: &ServerName) -> Result<Option<ServerInfo>, ServerError> {
    Ok(db::servers::get(hub.db(), user.id, server).await?.map(info_from))
}

/// Every server that is queued, starting or running, with its owner: what "stop all" stops.
pub async fn active(hub: &Hub) -> Result<Vec<(User, ServerName)>, ServerError> {
    let mut out = Vec::new();
    for state in ServerState::active() {
        for row in rows_in(hub, state).await? {
            let Some(user) = db::users::by_id(hub.db(), row.user_id).await? else { continue };
            let user =
                User::from_row(user).map_err(|e| ServerError::Unexpected(anyhow::anyhow!(e.to_string())))?;
            out.push((user, row.name));
        }
    }
    Ok(out)
}
