use std::fmt;

/// Names under `/user/{name}/` that belong to Jupyter itself, so no named server may take them.
const RESERVED: &[&str] = &[
    "api",
    "lab",
    "tree",
    "files",
    "static",
    "notebooks",
    "edit",
    "view",
    "kernelspecs",
    "nbconvert",
    "terminals",
    "login",
    "logout",
    "doc",
    "custom",
    "nbextensions",
    "voila",
    "metrics",
    "server",
];

pub const MAX_LEN: usize = 30;

/// A server's name: empty for a user's default server, otherwise JupyterHub 6's rule — 1–30
/// characters of `a-z`, `0-9` and single hyphens, starting with a letter and ending with a letter
/// or digit — and not one of Jupyter's own path segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ServerName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerNameError {
    #[error("the server name is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the server name may contain only letters a-z, digits 0-9 and single hyphens (found {0:?})")]
    InvalidCharacter(char),
    #[error("the server name must start with a letter")]
    BadStart,
    #[error("the server name must end with a letter or a digit")]
    BadEnd,
    #[error("the server name may not contain two hyphens in a row")]
    DoubleHyphen,
    #[error("{0:?} is reserved for Jupyter's own pages; pick another server name")]
    Reserved(String),
}

impl ServerName {
    /// The default server (no name).
    pub fn default_server() -> Self {
        Self(String::new())
    }

    pub fn parse(input: &str) -> Result<Self, ServerNameError> {
        let name = input.trim().to_lowercase();
        if name.is_empty() {
            return Ok(Self::default_server());
        }
        if name.chars().count() > MAX_LEN {
            return Err(ServerNameError::TooLong);
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(ServerNameError::InvalidCharacter(c));
        }
        if !name.as_bytes()[0].is_ascii_lowercase() {
            return Err(ServerNameError::BadStart);
        }
        if !name.as_bytes()[name.len() - 1].is_ascii_alphanumeric() {
            return Err(ServerNameError::BadEnd);
        }
        if name.contains("--") {
            return Err(ServerNameError::DoubleHyphen);
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(ServerNameError::Reserved(name));
        }
        Ok(Self(name))
    }

    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_the_default_server() {
        assert!(ServerName::parse("").unwrap().is_default());
        assert!(ServerName::parse("  ").unwrap().is_default());
    }

    #[test]
    fn named_servers_are_lowercased() {
        assert_eq!(ServerName::parse("GPU-Run-2").unwrap().as_str(), "gpu-run-2");
    }

    #[test]
    fn unsafe_names_are_refused() {
        assert_eq!(ServerName::parse("a/b"), Err(ServerNameError::InvalidCharacter('/')));
        assert_eq!(ServerName::parse("a.b"), Err(ServerNameError::InvalidCharacter('.')));
        assert_eq!(ServerName::parse("%2e%2e"), Err(ServerNameError::InvalidCharacter('%')));
        assert_eq!(ServerName::parse("a_b"), Err(ServerNameError::InvalidCharacter('_')));
        assert_eq!(ServerName::parse("-x"), Err(ServerNameError::BadStart));
        assert_eq!(ServerName::parse("1x"), Err(ServerNameError::BadStart));
        assert_eq!(ServerName::parse("x-"), Err(ServerNameError::BadEnd));
        assert_eq!(ServerName::parse("a--b"), Err(ServerNameError::DoubleHyphen));
        assert_eq!(ServerName::parse(&"x".repeat(31)), Err(ServerNameError::TooLong));
        assert!(ServerName::parse(&"x".repeat(30)).is_ok());
    }

    #[test]
    fn jupyter_paths_are_reserved() {
        for name in ["lab", "api", "tree", "files"] {
            assert_eq!(ServerName::parse(name), Err(ServerNameError::Reserved(name.into())));
        }
    }
}
