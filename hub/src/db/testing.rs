//! Test support (feature `testing`): a fresh, empty database per test on the server that
//! `GANYMEDE_TEST_DATABASE` names, so the same tests run on SQLite (variable unset: each test
//! keeps its SQLite file in its own directory) and on PostgreSQL.

use std::future::Future;

use sqlx::migrate::MigrateDatabase;

use crate::secret::SecretToken;

/// The variable naming a database server for tests, as a URL to any database on it (its path
/// is replaced), e.g. `postgres://postgres@127.0.0.1:55432/postgres`.
pub const TEST_DATABASE_VAR: &str = "GANYMEDE_TEST_DATABASE";

/// A database made for one test and dropped (best-effort) with this value.
#[derive(Debug)]
pub struct ScratchDatabase {
    url: String,
}

impl ScratchDatabase {
    /// A new empty database on the server [`TEST_DATABASE_VAR`] names; `None` when it is unset.
    /// Blocks (usable from synchronous and asynchronous tests alike); panics when the server
    /// cannot make one, which fails the test.
    pub fn from_env() -> Option<Self> {
        let server = std::env::var(TEST_DATABASE_VAR).ok().filter(|v| !v.is_empty())?;
        Some(Self::on(&server))
    }

    /// A new empty database on the server of `server_url`.
    pub fn on(server_url: &str) -> Self {
        let suffix: String = SecretToken::generate()
            .expose()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(12)
            .collect();
        let url = with_database(server_url, &format!("ganymede_test_{suffix}"));
        sqlx::any::install_default_drivers();
        let created = block_on({
            let url = url.clone();
            async move { sqlx::Any::create_database(&url).await }
        });
        if let Err(e) = created {
            panic!("cannot create a test database at {}: {e}", super::backend::redact(&url));
        }
        Self { url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Best-effort: a failed drop leaves an empty database behind, nothing worse.
        let _ = block_on(async move { sqlx::Any::force_drop_database(&url).await });
    }
}

/// `server_url` with its database (the path) replaced by `database`; the query string is kept.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{database}{query}", &base[..path_start])
}

/// Runs `future` to completion on a runtime of its own, on another thread, so that callers
/// inside or outside a Tokio runtime can wait for it.
fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a test runtime starts")
                    .block_on(future)
            })
            .join()
            .expect("the test database thread does not panic")
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_server_url_is_replaced() {
        assert_eq!(with_database("postgres://pg@127.0.0.1:5/postgres", "t1"), "postgres://pg@127.0.0.1:5/t1");
        assert_eq!(with_database("postgres://pg@127.0.0.1:5/", "t1"), "postgres://pg@127.0.0.1:5/t1");
        assert_eq!(with_database("postgres://pg@127.0.0.1:5", "t1"), "postgres://pg@127.0.0.1:5/t1");
        assert_eq!(with_database("postgres://h/db?sslmode=disable", "t1"), "postgres://h/t1?sslmode=disable");
    }
}
