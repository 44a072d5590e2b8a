use clap::Subcommand;
use hub::config::Config;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (the hub also does this at start-up).
    Migrate,
}

pub async fn run(config: Config, cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Migrate => {
            let url = config.database_url();
            let pool = hub::db::connect(&url).await?;
            hub::db::migrate(&pool).await?;
            println!("database is up to date");
            Ok(())
        }
    }
}
