//! JupyterHub 5's sharing API: `/hub/api/shares/{owner}/{server}` (share with a user or a group,
//! list, revoke), `/hub/api/users/{name}/shared` (what is shared with someone), and
//! `/hub/api/share-codes/{owner}/{server}` (links with an expiry). Lists use the paginated
//! envelope. `hub::sharing` holds the rules.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hub::domain::ServerName;
use hub::scopes::{Resource, Scope};
use hub::sharing::ShareRow;
use hub::sharing::With;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiJson};
use super::users::{existing, lookup};

/// `{"user": NAME}` or `{"group": NAME}` (scopes other than the access scope are not offered).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    user: Option<String>,
    group: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

/// Shares carry the server's access scope alone; a body may name it, nothing else.
fn check_scopes(scopes: Option<&[String]>, owner: &str, server: &str) -> Result<(), ApiError> {
    let only = format!("access:servers!server={owner}/{server}");
    match scopes {
        Some(scopes) if scopes.iter().any(|s| *s != only && s != "access:servers") => {
            Err(ApiError::bad_request(format!("only {only} can be shared")))
        }
        _ => Ok(()),
    }
}

impl ShareBody {
    fn with(self, owner: &str, server: &str) -> Result<With, ApiError> {
        check_scopes(self.scopes.as_deref(), owner, server)?;
        match (self.user, self.group) {
            (Some(u), None) => Ok(With::User(u)),
            (None, Some(g)) => Ok(With::Group(g)),
            _ => Err(ApiError::bad_request("give exactly one of \"user\" or \"group\"")),
        }
    }
}

/// JupyterHub's share model.
fn model(s: &ShareRow) -> Value {
    let mut m = json!({
        "server": { "user": { "name": s.owner }, "name": s.server, "url": s.url() },
        "scopes": serde_json::from_str::<Value>(&s.scopes).unwrap_or(Value::Null),
        "created_at": super::models::iso(s.created_at),
        "user": Value::Null,
        "group": Value::Null,
    });
    match (&s.user, &s.group) {
        (Some(u), _) => {
            m["user"] = json!({ "name": u });
            m["kind"] = "user".into();
        }
        (None, Some(g)) => {
            m["group"] = json!({ "name": g });
            m["kind"] = "group".into();
        }
        (None, None) => {}
    }
    m
}

fn envelope(items: Vec<Value>) -> Value {
    let total = items.len();
    json!({ "items": items, "_pagination": { "offset": 0, "limit": total, "total": total, "next": Value::Null } })
}

async fn owner_of(
    state: &AppState,
    caller: &Caller,
    owner: &str,
    server: &str,
    scope: Scope,
) -> Result<hub::accounts::User, ApiError> {
    let (found, groups) = lookup(state, owner).await?;
    caller.require(scope, Resource::Server { user: owner, server, groups: &groups })?;
    existing(found, owner)
}

fn name(raw: &str) -> Result<ServerName, ApiError> {
    ServerName::parse(raw).map_err(|e| ApiError::bad_request(format!("invalid server name {raw:?}: {e}")))
}

/// `POST /shares/{owner}/{server}` (`/shares/{owner}` with no server: the default one).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<ShareBody>,
) -> Result<Json<Value>, ApiError> {
    let user = owner_of(&state, &caller, &owner, &server, Scope::Shares).await?;
    let with = body.with(&owner, &server)?;
    let server_name = name(&server)?;
    hub::sharing::share(&state.hub, Some(caller.actor()), &user, &server_name, &with).await?;
    let shares = hub::sharing::of_owner(&state.hub, &user, Some(&server_name)).await?;
    let made = shares
        .iter()
        .find(|s| match &with {
            With::User(u) => s.user.as_deref() == Some(u),
            With::Group(g) => s.group.as_deref() == Some(g),
        })
        .map(model)
        .unwrap_or(Value::Null);
    Ok(Json(made))
}

/// `GET /shares/{owner}/{server}`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, server)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let user = owner_of(&state, &caller, &owner, &server, Scope::ReadShares).await?;
    let shares = hub::sharing::of_owner(&state.hub, &user, Some(&name(&server)?)).await?;
    Ok(Json(envelope(shares.iter().map(model).collect())))
}

/// `PATCH /shares/{owner}/{server}` with `{"user"|"group", "scopes"}`: JupyterHub's way to revoke
/// a recipient's scopes (here: its only scope, so its share); `DELETE` revokes them all.
pub async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<ShareBody>,
) -> Result<StatusCode, ApiError> {
    let user = owner_of(&state, &caller, &owner, &server, Scope::Shares).await?;
    let with = body.with(&owner, &server)?;
    hub::sharing::revoke(&state.hub, Some(caller.actor()), &user, &name(&server)?, Some(&with)).await?;
    Ok(StatusCode::OK)
}

pub async fn revoke_all(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, server)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = owner_of(&state, &caller, &owner, &server, Scope::Shares).await?;
    hub::sharing::revoke(&state.hub, Some(caller.actor()), &user, &name(&server)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/{name}/shared`: what is shared with them.
pub async fn shared_with(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (found, groups) = lookup(&state, &user).await?;
    caller.require(Scope::ReadUsersShares, Resource::User { name: &user, groups: &groups })?;
    let who = existing(found, &user)?;
    let shares = hub::sharing::shared_with(&state.hub, &who).await?;
    Ok(Json(envelope(shares.iter().map(model).collect())))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

/// `POST /share-codes/{owner}/{server}`: `{code, accept_url, full_accept_url, id, expires_at}`.
pub async fn create_code(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<Value>, ApiError> {
    let user = owner_of(&state, &caller, &owner, &server, Scope::Shares).await?;
    check_scopes(body.scopes.as_deref(), &owner, &server)?;
    let server_name = name(&server)?;
    let made =
        hub::sharing::create_code(&state.hub, Some(caller.actor()), &user, &server_name, body.expires_in)
            .await?;
    let accept = format!("/hub/accept-share?code={}", made.code.expose());
    let full = state
        .hub
        .config()
        .hub
        .public_url
        .as_deref()
        .map(|public| format!("{}{accept}", public.trim_end_matches('/')));
    Ok(Json(json!({
        "code": made.code.expose(),
        "id": format!("sc_{}", made.id),
        "accept_url": accept,
        "full_accept_url": full,
        "expires_at": super::models::iso(made.expires_at),
        "server": { "user": { "name": owner }, "name": server, "url": hub::servers::base_url(&user.name, &server_name) },
    })))
}

/// The default server's share routes (`/shares/{owner}/`, the server name being empty).
pub mod default_server {
    use super::*;

    pub async fn create(
        state: State<AppState>,
        caller: Caller,
        Path(owner): Path<String>,
        body: ApiJson<ShareBody>,
    ) -> Result<Json<Value>, ApiError> {
        super::create(state, caller, Path((owner, String::new())), body).await
    }

    pub async fn list(
        state: State<AppState>,
        caller: Caller,
        Path(owner): Path<String>,
    ) -> Result<Json<Value>, ApiError> {
        super::list(state, caller, Path((owner, String::new()))).await
    }

    pub async fn revoke_one(
        state: State<AppState>,
        caller: Caller,
        Path(owner): Path<String>,
        body: ApiJson<ShareBody>,
    ) -> Result<StatusCode, ApiError> {
        super::revoke_one(state, caller, Path((owner, String::new())), body).await
    }

    pub async fn revoke_all(
        state: State<AppState>,
        caller: Caller,
        Path(owner): Path<String>,
    ) -> Result<StatusCode, ApiError> {
        super::revoke_all(state, caller, Path((owner, String::new()))).await
    }

    pub async fn create_code(
        state: State<AppState>,
        caller: Caller,
        Path(owner): Path<String>,
        body: ApiJson<CodeBody>,
    ) -> Result<Json<Value>, ApiError> {
        super::create_code(state, caller, Path((owner, String::new())), body).await
    }
}
