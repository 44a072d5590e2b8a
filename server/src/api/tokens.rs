//! `/hub/api/users/{name}/tokens[/{token_id}]`.

use app::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use hub::scopes::{Resource, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Caller, Holder};
use super::error::{ApiError, ApiJson};
use super::models::token_model;
use super::users::path_user;

fn parse_token_id(raw: &str) -> Result<i64, ApiError> {
    raw.strip_prefix('a')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("No such token: {raw}")))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadTokens, Resource::User { name: &name, groups: &[] })?;
    let owner = path_user(&state, &name).await?;
    let tokens = hub::tokens::list(&state.hub, &owner).await?;
    Ok(Json(json!({ "api_tokens": tokens.iter().map(token_model).collect::<Vec<_>>(), "oauth_tokens": [] })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Tokens, Resource::User { name: &name, groups: &[] })?;
    let owner = path_user(&state, &name).await?;
    if body.roles.as_ref().is_some_and(|r| !r.is_empty()) && body.scopes.is_some() {
        return Err(ApiError::bad_request("give either roles or scopes, not both"));
    }
    // Roles map onto scopes: `user` is `self`, `admin` everything the owner has, `token` inherit.
    let scopes = match (body.scopes, body.roles) {
        (Some(s), _) => Some(s),
        (None, Some(roles)) if !roles.is_empty() => {
            let mut out = Vec::new();
            for role in roles {
                match role.as_str() {
                    "user" => out.push("self".to_owned()),
                    "token" | "admin" => out.push("inherit".to_owned()),
                    other => return Err(ApiError::bad_request(format!("unknown role {other:?}"))),
                }
            }
            Some(out)
        }
        _ => None,
    };
    let note = body.note.unwrap_or_else(|| match &caller.who {
        Holder::User(user) => format!("Requested via API by user {}", user.name),
        Holder::Service(service) => format!("Requested via API by service {}", service.name()),
    });
    let new =
        hub::tokens::create(&state.hub, Some(caller.actor()), &owner, &note, body.expires_in, scopes).await?;
    let mut model = token_model(&new.info);
    model["token"] = json!(new.token.expose());
    Ok((StatusCode::CREATED, Json(model)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, token_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::ReadTokens, Resource::User { name: &name, groups: &[] })?;
    let owner = path_user(&state, &name).await?;
    let id = parse_token_id(&token_id)?;
    let token = hub::tokens::get(&state.hub, &owner, id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such token"))?;
    Ok(Json(token_model(&token)))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Tokens, Resource::User { name: &name, groups: &[] })?;
    let owner = path_user(&state, &name).await?;
    let id = parse_token_id(&token_id)?;
    if hub::tokens::revoke(&state.hub, Some(caller.actor()), &owner, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("No such token"))
    }
}
