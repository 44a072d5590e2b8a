use std::io::BufRead;

use anyhow::{bail, Context};
use clap::Subcommand;
use hub::accounts::{self, NewAccount};
use hub::config::Config;
use hub::domain::{Password, UserName};
use hub::Hub;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local user. The password is read from standard input (one line).
    Add {
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user (their sessions and tokens go too). Their servers are stopped first.
    Remove {
        name: String,
        /// Also delete the user's home volume (their notebooks and files).
        #[arg(long)]
        purge_home: bool,
    },
    /// Grant (or with --revoke, take away) administrator rights.
    SetAdmin {
        name: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Set a user's password, read from standard input (one line); their sessions end.
    SetPassword { name: String },
    /// End a lock-out after failed sign-ins: forget every failure of NAME, from any address.
    Unlock { name: String },
}

pub async fn run(config: Config, cmd: UserCommand) -> anyhow::Result<()> {
    let hub = Hub::open(config).await?;
    match cmd {
        UserCommand::Add { name, admin, password_stdin } => {
            let name = UserName::parse(&name)?;
            if !password_stdin {
                bail!("give the password on standard input with --password-stdin, e.g. `echo \"$PW\" | ganymede user add {name} --password-stdin`");
            }
            let raw = read_password_line()?;
            let password = Password::parse(&raw, &name, hub.config().auth.local.password_policy())?;
            accounts::create_user(
                &hub,
                None,
                NewAccount { name: &name, password: Some(&password), is_admin: admin, approved: true },
            )
            .await?;
            println!("created user {name}{}", if admin { " (admin)" } else { "" });
        }
        UserCommand::List => {
            for user in hub::users::all(&hub).await? {
                let mut flags = Vec::new();
                if user.is_admin {
                    flags.push("admin");
                }
                if !user.approved {
                    flags.push("pending");
                }
                if user.blocked {
                    flags.push("blocked");
                }
                println!("{}\t{}", user.name, flags.join(","));
            }
        }
        UserCommand::Remove { name, purge_home } => {
            let name = UserName::parse(&name)?;
            match hub::users::find(&hub, &name).await? {
                Some(user) => {
                    if purge_home {
                        hub::servers::purge_user(&hub, None, &user).await?;
                    }
                    hub::users::delete(&hub, None, &user).await?;
                }
                // Says there is no such user.
                None => accounts::remove(&hub, None, &name).await?,
            }
            println!("removed user {name}");
        }
        UserCommand::SetAdmin { name, revoke } => {
            let name = UserName::parse(&name)?;
            accounts::set_admin(&hub, None, &name, !revoke).await?;
            println!("{name} is {}an administrator", if revoke { "no longer " } else { "now " });
        }
        UserCommand::SetPassword { name } => {
            let name = UserName::parse(&name)?;
            let raw = read_password_line()?;
            accounts::set_password(&hub, None, &hub.config().auth.local, &name, &raw).await?;
            println!("password of {name} changed; their sessions were ended");
        }
        UserCommand::Unlock { name } => {
            let name = UserName::parse(&name)?;
            let cleared = accounts::unlock(&hub, None, &name).await?;
            println!("{name} unlocked ({cleared} failed sign-ins forgotten)");
        }
    }
    Ok(())
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
