use std::path::Path;

use clap::Subcommand;
use hub::config::Config;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; list deprecated keys in use; print the effective values.
    Check,
}

pub fn run(explicit_file: Option<&Path>, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Check => {
            let (config, deprecated) = Config::load_noting(explicit_file)?;
            if deprecated.is_empty() {
                println!("# no deprecated keys in use");
            } else {
                println!("# deprecated keys in use ({}):", deprecated.len());
                for note in &deprecated {
                    println!("#   {note}");
                }
            }
            let text = toml::to_string_pretty(&config).unwrap_or_default();
            println!("# configuration is valid; effective values:\n{text}");
            Ok(())
        }
    }
}
