use anyhow::Context;
use hub::accounts::{self, NewAccount};
use hub::config::Config;
use hub::domain::{Password, UserName};
use hub::Hub;
use leptos::prelude::LeptosOptions;
use tracing::info;

use crate::startup::Application;

/// Environment variables that create the first administrator when the user is missing.
pub const ADMIN_USER_VAR: &str = "GANYMEDE_ADMIN_USER";
pub const ADMIN_PASSWORD_VAR: &str = "GANYMEDE_ADMIN_PASSWORD";

pub async fn run(config: Config) -> anyhow::Result<()> {
    let leptos_options = leptos_options(&config)?;
    let app = Application::build(config, leptos_options).await?;
    bootstrap_admin(app.hub()).await?;
    info!(address = %app.addr(), "Ganymede is listening on http://{}", app.addr());
    app.run_until(shutdown_signal()).await.context("serving HTTP")?;
    info!("shut down");
    Ok(())
}

/// Leptos' own settings (site root, output name) from `LEPTOS_*` variables, bound where the hub binds.
pub fn leptos_options(config: &Config) -> anyhow::Result<LeptosOptions> {
    let mut options =
        leptos::prelude::get_configuration(None).context("reading LEPTOS_* settings")?.leptos_options;
    if options.output_name.is_empty() {
        options.output_name = "ganymede".into();
    }
    options.site_addr = config.hub.bind;
    Ok(options)
}

/// Creates the admin named by `GANYMEDE_ADMIN_USER` when missing; with no users and no such
/// variable, explains how to make the first one.
async fn bootstrap_admin(hub: &Hub) -> anyhow::Result<()> {
    let user = std::env::var(ADMIN_USER_VAR).ok().filter(|v| !v.is_empty());
    let password = std::env::var(ADMIN_PASSWORD_VAR).ok().filter(|v| !v.is_empty());
    match (user, password) {
        (Some(user), Some(password)) => {
            let name = UserName::parse(&user).context(ADMIN_USER_VAR)?;
            if hub::users::find(hub, &name).await?.is_none() {
                let password = Password::parse(&password, &name, hub.config().auth.local.password_policy())
                    .context(ADMIN_PASSWORD_VAR)?;
                accounts::create_user(
                    hub,
                    None,
                    NewAccount { name: &name, password: Some(&password), is_admin: true, approved: true },
                )
                .await?;
                info!(user.name = %name, "created the administrator {name} from {ADMIN_USER_VAR}");
            }
        }
        (Some(_), None) => anyhow::bail!("{ADMIN_USER_VAR} is set but {ADMIN_PASSWORD_VAR} is not"),
        _ => {
            if hub::users::count(hub).await? == 0 {
                // In the log, so a JSON log stays one object per line.
                info!(
                    "There are no users yet. Create the first administrator with \
                     `echo 'a-good-password' | ganymede user add admin --admin --password-stdin` \
                     or start the hub with {ADMIN_USER_VAR}=admin {ADMIN_PASSWORD_VAR}=... set."
                );
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
