//! HTTP pieces around the Leptos routes: session resolution, CSRF protection, page guards, health,
//! refusal of odd requests and the answer to a panic.

pub mod csrf;
pub mod health;
pub mod html;
pub mod jupyterhub_urls;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod panics;
pub mod request_form;
pub mod server_fn_status;
pub mod session;
pub mod usage_csv;
