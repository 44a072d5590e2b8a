//! What a spawner leaves in a server's row: which spawner ([`SpawnerKind`]), its own opaque
//! record of the workload ([`WorkloadState`]) and where the server answers ([`Upstream`]). Values
//! only: `db/` stores them and `spawner/` interprets them (`WorkloadState::decode` lives there).

use serde::{Deserialize, Serialize};

/// The closed set of spawners a hub can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpawnerKind {
    /// One container per server on a Docker engine.
    Docker,
    /// One local process group per server.
    Local,
    /// The in-memory spawner of the lifecycle's unit tests.
    #[cfg(test)]
    Memory,
}

impl SpawnerKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Local => "local",
            #[cfg(test)]
            Self::Memory => "memory",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "docker" => Some(Self::Docker),
            "local" => Some(Self::Local),
            #[cfg(test)]
            "memory" => Some(Self::Memory),
            _ => None,
        }
    }
}

impl std::fmt::Display for SpawnerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the proxy reaches a server. Jupyter speaks plain HTTP on the hub's side of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
}

/// Where a server answers: scheme, host and port. Never a string to parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Upstream {
    pub scheme: Scheme,
    pub host: std::net::IpAddr,
    pub port: u16,
}

impl Upstream {
    pub fn http(host: std::net::IpAddr, port: u16) -> Self {
        Self { scheme: Scheme::Http, host, port }
    }

    pub fn socket_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.host, self.port)
    }

    /// `http://host:port`, without a path: the origin requests are sent to.
    pub fn origin(&self) -> String {
        match self.scheme {
            Scheme::Http => format!("http://{}", self.socket_addr()),
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin())
    }
}

/// A spawner's own record of one workload: opaque to the hub, stored as it is. `version` lets a
/// spawner read what an older hub wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadState {
    pub kind: SpawnerKind,
    pub version: u32,
    pub data: serde_json::Value,
}

impl WorkloadState {
    pub fn new(kind: SpawnerKind, version: u32, data: impl Serialize) -> Self {
        Self { kind, version, data: serde_json::to_value(data).unwrap_or(serde_json::Value::Null) }
    }
}
