//! Named servers: creating one without starting it, and changing a stopped one (rename, the
//! flavour and size of its next start).

use super::*;

/// Creates a named server without starting it (the API's PUT); false when it already exists.
pub async fn create(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    flavour: &str,
    size: &str,
) -> Result<bool, ServerError> {
    if server.is_default() {
        return Err(ServerError::InvalidName(crate::domain::ServerNameError::Reserved(String::new())));
    }
    let launch = catalogue::resolve(hub.config(), &hub.gpus().snapshot(), flavour, size)?;
    let limit = hub.config().servers.named_servers_limit;
    if limit == 0 {
        return Err(ServerError::NamedServersDisabled);
    }
    let now = hub.clock().now_ms();
    let mut tx = hub.db().begin().await?;
    db::servers::lock_fleet(&mut tx).await?;
    if db::servers::get(&mut *tx, user.id, server).await?.is_some() {
        return Ok(false);
    }
    if db::servers::count_named(&mut tx, user.id).await? >= i64::from(limit) {
        return Err(ServerError::TooManyNamed(limit));
    }
    let created =
        db::servers::create_stopped(&mut tx, user.id, server, &launch.flavour.id, &launch.size.id, now)
            .await?;
    if created {
        events::record(
            &mut *tx,
            actor,
            "server.create",
            Some(&format!("{}/{}", user.name, server)),
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// What a PATCH of a stopped named server changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServerChange {
    pub name: Option<ServerName>,
    pub flavour: Option<String>,
    pub size: Option<String>,
}

/// Renames a stopped named server and/or changes the flavour and size it starts with next, in one
/// transaction. Returns the server as it is afterwards.
pub async fn modify(
    hub: &Hub,
    actor: Option<&str>,
    user: &User,
    server: &ServerName,
    change: ServerChange,
) -> Result<ServerInfo, ServerError> {
    let mut tx = hub.db().begin().await?;
    let row = db::servers::get(&mut *tx, user.id, server).await?.ok_or(ServerError::NotFound)?;
    if row.state != ServerState::Stopped {
        return Err(ServerError::NotStopped(row.state));
    }
    if change.name.is_none() && change.flavour.is_none() && change.size.is_none() {
        return Err(ServerError::NothingToChange);
    }
    if change.flavour.is_some() || change.size.is_some() {
        let flavour = change.flavour.as_deref().or(row.flavour.as_deref()).unwrap_or_default();
        let size = change.size.as_deref().or(row.size.as_deref()).unwrap_or_default();
        let launch = catalogue::resolve(hub.config(), &hub.gpus().snapshot(), flavour, size)?;
        if !db::servers::set_choice_stopped(&mut tx, row.id, &launch.flavour.id, &launch.size.id).await? {
            return Err(ServerError::Busy(row.state));
        }
    }
    let mut current = server.clone();
    if let Some(new) = change.name.filter(|n| n != server) {
        if server.is_default() || new.is_default() {
            return Err(ServerError::DefaultNotRenamed);
        }
        if !db::servers::rename_stopped(&mut tx, row.id, &new).await? {
            return Err(ServerError::NameTaken(new.to_string()));
        }
        current = new;
    }
    events::record(
        &mut *tx,
        actor,
        "server.modify",
        Some(&format!("{}/{}", user.name, server)),
        json!({ "name": current.as_str(), "flavour": row.flavour, "size": row.size }),
    )
    .await?;
    let after = db::servers::get(&mut *tx, user.id, &current).await?.ok_or(ServerError::NotFound)?;
    tx.commit().await?;
    Ok(info_from(after))
}
