//! [`Hub`]: the shared handle on configuration, database, spawner, routes and progress.

use std::sync::Arc;

use crate::config::Config;
use crate::db::{self, DbError, Pool};
use crate::oidc::Oidc;
use crate::servers::activity::Activity;
use crate::servers::progress::ProgressHub;
use crate::servers::routes::RouteTable;
use crate::sessions::SessionCache;
use crate::spawner::docker::DockerSpawner;
use crate::spawner::Spawner;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot read or create the hub secret at {path}: {source}")]
    Secret { path: String, source: std::io::Error },
    #[error("OpenID Connect set-up failed: {0}")]
    Oidc(#[from] crate::oidc::OidcError),
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: Pool,
    secret: String,
    hub_id: String,
    spawner: Arc<dyn Spawner>,
    routes: RouteTable,
    progress: ProgressHub,
    activity: Activity,
    session_cache: SessionCache,
    oidc: Option<Arc<Oidc>>,
}

impl Hub {
    /// Connects to the database, applies migrations, and sets up the Docker spawner (which
    /// connects to the engine on first use).
    pub async fn open(config: Config) -> Result<Self, HubError> {
        Self::open_with(config, |config, hub_id| Arc::new(DockerSpawner::new(config.spawner.clone(), hub_id)))
            .await
    }

    /// Like [`Hub::open`] with another spawner (unit tests of hub logic).
    pub async fn open_with(
        config: Config,
        make_spawner: impl FnOnce(&Config, String) -> Arc<dyn Spawner>,
    ) -> Result<Self, HubError> {
        let pool = db::connect(&config.database_url()).await?;
        db::migrate(&pool).await?;
        let hub_id = db::settings::hub_id(&pool).await.map_err(DbError::from)?;
        let secret = load_secret(&config)?;
        let spawner = make_spawner(&config, hub_id.clone());
        let oidc = if config.auth.oidc.enabled {
            Some(Arc::new(Oidc::new(config.auth.oidc.clone())?))
        } else {
            None
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                pool,
                secret,
                hub_id,
                spawner,
                routes: RouteTable::default(),
                progress: ProgressHub::default(),
                activity: Activity::default(),
                session_cache: SessionCache::default(),
                oidc,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn db(&self) -> &Pool {
        &self.inner.pool
    }

    /// OpenID Connect sign-in, when configured.
    pub fn oidc(&self) -> Option<&Arc<Oidc>> {
        self.inner.oidc.as_ref()
    }

    pub fn hub_id(&self) -> &str {
        &self.inner.hub_id
    }

    pub fn spawner(&self) -> &dyn Spawner {
        self.inner.spawner.as_ref()
    }

    pub fn routes(&self) -> &RouteTable {
        &self.inner.routes
    }

    pub fn progress(&self) -> &ProgressHub {
        &self.inner.progress
    }

    pub fn activity(&self) -> &Activity {
        &self.inner.activity
    }

    pub(crate) fn session_cache(&self) -> &SessionCache {
        &self.inner.session_cache
    }

    pub(crate) fn secret(&self) -> &str {
        &self.inner.secret
    }
}

/// `{data_dir}/hub_secret`: random, made once, readable by the hub's user only.
fn load_secret(config: &Config) -> Result<String, HubError> {
    let path = config.hub.data_dir.join("hub_secret");
    let err = |source| HubError::Secret { path: path.display().to_string(), source };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.trim().is_empty() {
            return Ok(existing.trim().to_owned());
        }
    }
    std::fs::create_dir_all(&config.hub.data_dir).map_err(err)?;
    let secret = crate::secret::SecretToken::generate().expose().to_owned();
    std::fs::write(&path, &secret).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(secret)
}
