//! `ganymede` command line: one file per command.

mod config;
mod db;
mod gpus;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hub::config::Config;

#[derive(Debug, Parser)]
#[command(name = "ganymede", version, about = "Ganymede: a multi-user notebook hub")]
pub struct Cli {
    /// Config file (default: ./ganymede.toml when it exists).
    #[arg(long, global = true, env = "GANYMEDE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    Serve,
    /// Manage local user accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// The GPU inventory, where it came from, and who holds what.
    Gpus {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Configuration helpers.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

/// Parses arguments, runs the command, and turns any error into a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The configuration picks the log's format, then its deprecation notes go to that log.
    let load = || -> anyhow::Result<Config> {
        let (config, deprecated) = Config::load_noting(cli.config.as_deref())?;
        crate::telemetry::set_format(config.log.format);
        for note in &deprecated {
            tracing::warn!("{note}");
        }
        Ok(config)
    };
    match cli.command {
        Command::Serve => serve::run(load()?).await,
        Command::User(cmd) => user::run(load()?, cmd).await,
        Command::Db(cmd) => db::run(load()?, cmd).await,
        Command::Gpus { json } => gpus::run(load()?, json).await,
        Command::Config(cmd) => config::run(cli.config.as_deref(), cmd),
    }
}
