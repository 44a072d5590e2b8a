use std::path::PathBuf;

use clap::Subcommand;
use hub::config::Config;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (the hub also does this at start-up).
    Migrate,
    /// Copy every table of a stopped hub's database into a new, empty one (SQLite ↔ PostgreSQL),
    /// keeping ids. The target is migrated first; a target with rows is refused.
    Copy {
        /// The database to read, e.g. sqlite:///var/lib/ganymede/ganymede.db (never written).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The database to fill, e.g. postgres://ganymede:PASSWORD@db.example.org/ganymede (must
        /// exist for PostgreSQL; a missing SQLite file is created).
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Write a consistent copy of the hub's SQLite database to FILE while the hub runs (checked
    /// before it is called done; an existing FILE is never overwritten). For PostgreSQL, says how
    /// to use pg_dump instead.
    Backup {
        /// The new file, e.g. /backups/ganymede-2026-12-04.db
        file: PathBuf,
    },
}

pub async fn run(config: Config, cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Migrate => {
            let url = config.database_url();
            hub::database::migrate(&url).await?;
            println!("database is up to date");
            Ok(())
        }
        DbCommand::Copy { from, to } => {
            let report = hub::database::copy(&from, &to).await?;
            println!(
                "copied {} → {} ({} → {}):",
                hub::database::redact(&from),
                hub::database::redact(&to),
                report.source.name(),
                report.target.name()
            );
            for (table, rows) in &report.tables {
                println!("  {table}: {rows} row(s)");
            }
            println!("point database.url at the target and start the hub");
            Ok(())
        }
        DbCommand::Backup { file } => {
            let report = hub::database::backup(&config.database_url(), &file).await?;
            println!(
                "backed up {} to {} ({} bytes: {} user(s), {} server(s)); integrity check ok",
                hub::database::redact(&config.database_url()),
                file.display(),
                report.bytes,
                report.users,
                report.servers
            );
            println!("to restore: stop the hub, copy the file over the database (removing its -wal and -shm files), start the hub");
            Ok(())
        }
    }
}
