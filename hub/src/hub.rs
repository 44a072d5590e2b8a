//! [`Hub`]: the shared handle on configuration and database that every request uses.

use std::sync::Arc;

use crate::config::Config;
use crate::db::{self, DbError, Pool};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Cheap to clone; holds the configuration and the pool.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: Pool,
}

impl Hub {
    /// Connects to the database and applies pending migrations.
    pub async fn open(config: Config) -> Result<Self, HubError> {
        let pool = db::connect(&config.database_url()).await?;
        db::migrate(&pool).await?;
        Ok(Self { inner: Arc::new(Inner { config, pool }) })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn db(&self) -> &Pool {
        &self.inner.pool
    }
}
