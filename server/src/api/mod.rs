//! The JupyterHub-compatible REST API under `/hub/api` (contract: JupyterHub's OpenAPI spec).
//! Every handler starts with one explicit authorisation call on [`auth::Caller`].

pub mod auth;
pub mod error;
mod info;
pub mod models;
mod tokens;
mod users;

use app::state::AppState;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hub/api", get(info::root))
        .route("/hub/api/", get(info::root))
        .route("/hub/api/info", get(info::info))
        .route("/hub/api/user", get(users::whoami))
        .route("/hub/api/users/{name}", get(users::get_user))
        .route("/hub/api/users/{name}/tokens", get(tokens::list).post(tokens::create))
        .route("/hub/api/users/{name}/tokens/{token_id}", get(tokens::get).delete(tokens::revoke))
}
