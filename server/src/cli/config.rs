use clap::Subcommand;
use hub::config::{Config, ConfigError};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print the effective values.
    Check,
}

pub fn run(loaded: Result<Config, ConfigError>, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Check => {
            let config = loaded?;
            let text = toml::to_string_pretty(&config).unwrap_or_default();
            println!("# configuration is valid; effective values:\n{text}");
            Ok(())
        }
    }
}
