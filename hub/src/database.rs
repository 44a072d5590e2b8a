//! The database as the command line manages it: migrations, `db copy` and `db backup`. Everything else reaches
//! the database through the operations of the other modules.

pub use crate::db::backend::redact;
pub use crate::db::backup::{backup, BackupError, BackupReport};
pub use crate::db::copy::{copy, CopyError, CopyReport};
pub use crate::db::DbError;

/// Connects to `url` (creating an SQLite file when missing) and applies pending migrations.
pub async fn migrate(url: &str) -> Result<(), DbError> {
    let pool = crate::db::connect(url).await?;
    crate::db::migrate(&pool).await
}
