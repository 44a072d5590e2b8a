//! The JupyterHub-compatible REST API under `/hub/api` (contract: JupyterHub's OpenAPI spec).
//! Every handler starts with one explicit authorisation call on [`auth::Caller`].

pub mod auth;
pub mod error;
mod groups;
mod info;
pub mod models;
mod oauth;
pub mod pagination;
mod progress;
mod servers;
mod services;
mod shares;
mod tokens;
mod users;

use app::state::AppState;
use axum::routing::{get, post, put};
use axum::Router;

/// The JupyterHub REST API version Ganymede implements: `info.version` of the spec it follows
/// (`docs/reference/jupyterhub-rest-api.yml`). Sent by `GET /hub/api` and, as
/// `X-JupyterHub-Version`, on every response.
pub const JUPYTERHUB_API_VERSION: &str = "6.0.0b2";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hub/api", get(info::root))
        .route("/hub/api/", get(info::root))
        .route("/hub/api/info", get(info::info))
        .route("/hub/api/user", get(users::whoami))
        .route("/hub/api/oauth2/authorize", get(oauth::authorize).post(oauth::consent))
        .route(
            "/hub/api/shares/{owner}/{server}",
            get(shares::list).post(shares::create).patch(shares::revoke_one).delete(shares::revoke_all),
        )
        .route("/hub/api/users/{name}/shared", get(shares::shared_with))
        .route("/hub/api/share-codes/{owner}/{server}", post(shares::create_code))
        .route(
            "/hub/api/shares/{owner}/",
            get(shares::default_server::list)
                .post(shares::default_server::create)
                .patch(shares::default_server::revoke_one)
                .delete(shares::default_server::revoke_all),
        )
        .route("/hub/api/share-codes/{owner}/", post(shares::default_server::create_code))
        .route("/hub/api/oauth2/token", post(oauth::token))
        .route("/hub/api/users", get(users::list).post(users::create_many))
        .route(
            "/hub/api/users/{name}",
            get(users::get_user).post(users::create_one).patch(users::patch).delete(users::delete),
        )
        .route("/hub/api/users/{name}/activity", post(users::activity))
        .route("/hub/api/users/{name}/server/progress", get(progress::default_server))
        .route("/hub/api/users/{name}/servers/{server}/progress", get(progress::named_server))
        .route("/hub/api/users/{name}/server", post(servers::start_default).delete(servers::stop_default))
        .route(
            "/hub/api/users/{name}/servers/{server}",
            get(servers::get_named)
                .post(servers::start_named)
                .put(servers::create_named)
                .delete(servers::stop_named)
                .patch(servers::patch_named),
        )
        .route("/hub/api/users/{name}/tokens", get(tokens::list).post(tokens::create))
        .route("/hub/api/services", get(services::list))
        .route("/hub/api/services/{name}", get(services::get))
        .route("/hub/api/groups", get(groups::list))
        .route("/hub/api/groups/{name}", get(groups::get).post(groups::create).delete(groups::delete))
        .route("/hub/api/groups/{name}/users", post(groups::add_users).delete(groups::remove_users))
        .route("/hub/api/groups/{name}/properties", put(groups::set_properties))
        .route("/hub/api/users/{name}/tokens/{token_id}", get(tokens::get).delete(tokens::revoke))
}
