//! HTTP pieces around the Leptos routes: session resolution, CSRF protection, page guards, health.

pub mod csrf;
pub mod health;
pub mod oidc;
pub mod pages;
pub mod server_fn_status;
pub mod session;
