//! `[spawner]`: which spawner starts servers (`kind`), and each spawner's own section.

use serde::{Deserialize, Serialize};

use super::catalogue::valid_id;
use super::ConfigError;

/// The spawner new servers start on. Servers started by another kind before a change are still
/// stopped and reconciled by theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpawnerChoice {
    /// One container per server on a Docker engine (`[spawner.docker]`).
    #[default]
    Docker,
    /// One local process per server, as the hub's user or a system account (`[spawner.local]`).
    Local,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpawnerConfig {
    /// `"docker"` or `"local"`. Env: `GANYMEDE_SPAWNER__KIND`. Default `docker`.
    pub kind: SpawnerChoice,
    pub docker: DockerConfig,
    pub local: LocalConfig,
}

/// Whose account a local server runs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserMapping {
    /// The hub's own account: every server runs as the user the hub runs as.
    #[default]
    Hub,
    /// A system account named like the hub user; only when the hub runs as root.
    System,
}

/// How a local server's size is enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalLimits {
    /// cgroups (v1) where the hub may create them, else rlimits (memory only).
    #[default]
    Auto,
    /// cgroups only: a start fails when they cannot be made.
    Cgroup,
    /// `RLIMIT_AS` for memory; CPU is not limited.
    Rlimit,
    /// No limits.
    None,
}

/// `[spawner.local]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Directory under which each user gets a home `{home_root}/{user}`: an absolute path, or
    /// empty for `{hub.data_dir}/homes`. Env: `GANYMEDE_SPAWNER__LOCAL__HOME_ROOT`.
    pub home_root: String,
    /// `"hub"` (run as the hub's own user) or `"system"` (a system account of the user's name;
    /// the hub must run as root). Default `hub`.
    pub user_mapping: UserMapping,
    /// With `user_mapping = "system"`: create a missing account with `useradd` on first start.
    /// Default `false`.
    pub create_system_users: bool,
    /// `"auto"`, `"cgroup"`, `"rlimit"` or `"none"`. Default `auto`.
    pub limits: LocalLimits,
    /// The cgroup v1 root; the hub makes `{cgroup_root}/{memory,cpu}/ganymede/...` below it.
    /// Default `/sys/fs/cgroup`.
    pub cgroup_root: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            home_root: String::new(),
            user_mapping: UserMapping::Hub,
            create_system_users: false,
            limits: LocalLimits::Auto,
            cgroup_root: "/sys/fs/cgroup".into(),
        }
    }
}

/// `[spawner.docker]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// Docker engine address: empty for the local default (`DOCKER_HOST` or the Unix socket),
    /// or `unix:///path`, `tcp://host:port`. Env: `GANYMEDE_SPAWNER__DOCKER__HOST`.
    pub host: String,
    /// Processes a notebook container may run. Default `1024`.
    pub pids_limit: i64,
    /// Path in the container where the user's volume is mounted. Default `/home/jovyan`.
    pub notebook_dir: String,
    /// Label prefix and name prefix of containers and volumes this hub owns. Default `ganymede`.
    pub prefix: String,
    /// The hub's own Docker network: its gateway is the host address where single-user servers
    /// reach the hub's API listener. The hub creates it when missing, with inter-container
    /// communication off; an existing network of that name that allows it is refused. Servers do
    /// not join it: each gets a network of its own (see `server_subnets`). Default
    /// `ganymede-servers`.
    pub network: String,
    /// Where each server's own network takes its subnet: a /28 carved from this IPv4 range per
    /// running server (a /16 holds 4096), so that no server shares a network, a bridge or an
    /// address range with another, and the engine's small default pools are not used up. Pick a
    /// range no other network of the machine uses. Default `10.213.0.0/16`.
    pub server_subnets: SubnetPool,
    /// How a GPU server gets exactly its GPUs: `device-request` (Docker device requests naming
    /// the UUIDs; needs the NVIDIA Container Toolkit's runtime hook) or `nvidia-runtime-env`
    /// (`NVIDIA_VISIBLE_DEVICES` set to the UUIDs; for engines whose default runtime is
    /// `nvidia`). Default `device-request`.
    pub gpu_attach: GpuAttach,
    /// Where servers may connect to: `internet` (public addresses and DNS; of the host only the
    /// hub's API listener; no private, shared or link-local range), `hub-only` or `open` (the
    /// engine's defaults). Enforced with the host's packet filter, per server. Default `internet`.
    pub egress: Egress,
    /// Destinations `internet` and `hub-only` allow besides the hub: `a.b.c.d[/len][:port]`
    /// (a TCP port when given), e.g. a package mirror or a file server. Default: none.
    pub egress_allow: Vec<EgressTarget>,
}

/// `[spawner.docker] gpu_attach`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuAttach {
    #[default]
    DeviceRequest,
    NvidiaRuntimeEnv,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            pids_limit: 1024,
            notebook_dir: "/home/jovyan".into(),
            prefix: "ganymede".into(),
            network: "ganymede-servers".into(),
            server_subnets: SubnetPool::DEFAULT,
            gpu_attach: GpuAttach::DeviceRequest,
            egress: Egress::Internet,
            egress_allow: Vec::new(),
        }
    }
}

impl SpawnerConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.docker.validate()?;
        self.local.validate()
    }
}

impl LocalConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.home_root.is_empty() && !self.home_root.starts_with('/') {
            return Err(ConfigError::invalid(
                "spawner.local.home_root",
                "must be an absolute path, or empty for {hub.data_dir}/homes",
            ));
        }
        if self.create_system_users && self.user_mapping != UserMapping::System {
            return Err(ConfigError::invalid(
                "spawner.local.create_system_users",
                "only applies with spawner.local.user_mapping = \"system\"",
            ));
        }
        if !self.cgroup_root.starts_with('/') {
            return Err(ConfigError::invalid("spawner.local.cgroup_root", "must be an absolute path"));
        }
        Ok(())
    }
}

impl DockerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.pids_limit < 16 {
            return Err(ConfigError::invalid("spawner.docker.pids_limit", "must be at least 16"));
        }
        if !self.notebook_dir.starts_with('/') {
            return Err(ConfigError::invalid("spawner.docker.notebook_dir", "must be an absolute path"));
        }
        if !valid_id(&self.prefix) {
            return Err(ConfigError::invalid(
                "spawner.docker.prefix",
                "use 1-32 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if !valid_network_name(&self.network) {
            return Err(ConfigError::invalid(
                "spawner.docker.network",
                "use 1-64 characters of a-z, A-Z, 0-9, '-', '_' and '.', starting with a letter or digit",
            ));
        }
        Ok(())
    }
}

/// An IPv4 range servers' networks are carved from, `a.b.c.d/n` with `n` from 8 to 28 and no host
/// bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubnetPool {
    base: u32,
    len: u8,
}

impl SubnetPool {
    /// The prefix length of one server's network (14 usable addresses).
    pub const BLOCK_LEN: u8 = 28;
    pub const DEFAULT: Self = Self { base: u32::from_be_bytes([10, 213, 0, 0]), len: 16 };

    /// The /28 blocks of the range, as `(network address, prefix length)`, starting at the
    /// `start`-th (modulo their number) and wrapping round.
    pub fn blocks(&self, start: u64) -> impl Iterator<Item = (std::net::Ipv4Addr, u8)> + '_ {
        let count = 1u64 << (Self::BLOCK_LEN - self.len);
        let block = 1u64 << (32 - Self::BLOCK_LEN);
        (0..count).map(move |i| {
            let index = (start.wrapping_add(i)) % count;
            let address = u64::from(self.base) + index * block;
            (std::net::Ipv4Addr::from(address as u32), Self::BLOCK_LEN)
        })
    }
}

impl std::str::FromStr for SubnetPool {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wrong =
            || format!("{s:?} is not an IPv4 range like 10.213.0.0/16 (a prefix length from 8 to 28)");
        let (address, len) = s.split_once('/').ok_or_else(wrong)?;
        let address: std::net::Ipv4Addr = address.parse().map_err(|_| wrong())?;
        let len: u8 = len.parse().map_err(|_| wrong())?;
        if !(8..=Self::BLOCK_LEN).contains(&len) {
            return Err(wrong());
        }
        let base = u32::from(address);
        if base & (u32::MAX >> len) != 0 {
            return Err(format!(
                "{s:?} has host bits set (its network address is {}/{len})",
                address_of(base, len)
            ));
        }
        Ok(Self { base, len })
    }
}

fn address_of(base: u32, len: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(base & !(u32::MAX >> len))
}

impl TryFrom<String> for SubnetPool {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SubnetPool> for String {
    fn from(pool: SubnetPool) -> Self {
        pool.to_string()
    }
}

impl std::fmt::Display for SubnetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.base), self.len)
    }
}

/// Docker's own rule for network names, kept to a safe length.
fn valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `[spawner.docker] egress`: where a server may connect to, enforced by the engine host's packet
/// filter per server (the hub must run on that host as root or with `CAP_NET_ADMIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Egress {
    /// The engine's defaults: anything, the host's listeners and the local network included.
    Open,
    /// Public addresses and DNS; of the host only the hub's API listener; no private, shared
    /// or link-local range (so no cloud metadata service) but `egress_allow`.
    #[default]
    Internet,
    /// The hub's API listener and `egress_allow` only.
    HubOnly,
}

/// An `egress_allow` entry: an IPv4 address or range, optionally one TCP port,
/// `a.b.c.d[/len][:port]` (e.g. `10.0.0.5:3128` for a proxy, `192.168.10.0/24` for a file server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EgressTarget {
    base: u32,
    len: u8,
    port: Option<u16>,
}

impl EgressTarget {
    /// The range as iptables writes it, `a.b.c.d/len`.
    pub fn network(&self) -> String {
        format!("{}/{}", std::net::Ipv4Addr::from(self.base), self.len)
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl std::str::FromStr for EgressTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wrong = || {
            format!("{s:?} is not an IPv4 address or range with an optional port, like 10.0.0.5:3128 or 192.168.10.0/24")
        };
        let (range, port) = match s.rsplit_once(':') {
            Some((range, port)) => {
                (range, Some(port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(wrong)?))
            }
            None => (s, None),
        };
        let (address, len) = match range.split_once('/') {
            Some((address, len)) => (address, len.parse::<u8>().ok().filter(|l| *l <= 32).ok_or_else(wrong)?),
            None => (range, 32),
        };
        let base = u32::from(address.parse::<std::net::Ipv4Addr>().map_err(|_| wrong())?);
        if len < 32 && base & (u32::MAX >> len) != 0 {
            return Err(format!(
                "{s:?} has host bits set (its network address is {}/{len})",
                address_of(base, len)
            ));
        }
        if len == 0 {
            return Err(format!("{s:?} is every address: set egress = \"open\" instead"));
        }
        Ok(Self { base, len, port })
    }
}

impl TryFrom<String> for EgressTarget {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<EgressTarget> for String {
    fn from(target: EgressTarget) -> Self {
        target.to_string()
    }
}

impl std::fmt::Display for EgressTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let address = std::net::Ipv4Addr::from(self.base);
        match (self.len, self.port) {
            (32, None) => write!(f, "{address}"),
            (32, Some(port)) => write!(f, "{address}:{port}"),
            (len, None) => write!(f, "{address}/{len}"),
            (len, Some(port)) => write!(f, "{address}/{len}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SubnetPool;

    #[test]
    fn egress_targets_parse_addresses_ranges_and_ports_and_refuse_the_rest() {
        use super::EgressTarget;
        let parsed = |s: &str| s.parse::<EgressTarget>();
        let t = parsed("10.0.0.5:3128").unwrap();
        assert_eq!((t.network(), t.port()), ("10.0.0.5/32".to_owned(), Some(3128)));
        let t = parsed("192.168.10.0/24").unwrap();
        assert_eq!((t.network(), t.port()), ("192.168.10.0/24".to_owned(), None));
        assert_eq!(parsed("192.168.10.0/24:443").unwrap().to_string(), "192.168.10.0/24:443");
        assert_eq!(parsed("10.0.0.5").unwrap().to_string(), "10.0.0.5");
        for bad in
            ["", "host:80", "10.0.0.5:0", "10.0.0.5:99999", "10.0.0.0/33", "10.0.0.1/24", "0.0.0.0/0", "::1"]
        {
            assert!(parsed(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_subnet_pool_parses_and_carves_28s() {
        let pool: SubnetPool = "10.213.0.0/16".parse().unwrap();
        assert_eq!(pool, SubnetPool::DEFAULT);
        assert_eq!(pool.to_string(), "10.213.0.0/16");
        assert_eq!(pool.blocks(0).count(), 4096);
        let first: Vec<_> = pool.blocks(4095).take(2).map(|(a, l)| format!("{a}/{l}")).collect();
        assert_eq!(first, ["10.213.255.240/28", "10.213.0.0/28"]);
        let small: SubnetPool = "192.168.7.0/27".parse().unwrap();
        assert_eq!(
            small.blocks(1).map(|(a, _)| a.to_string()).collect::<Vec<_>>(),
            ["192.168.7.16", "192.168.7.0"]
        );
    }

    #[test]
    fn a_subnet_pool_refuses_what_is_not_a_range() {
        for bad in
            ["10.213.0.0", "10.213.0.1/16", "10.0.0.0/7", "10.0.0.0/29", "fd00::/64", "x/16", "10.213.0.0/"]
        {
            assert!(bad.parse::<SubnetPool>().is_err(), "{bad} should be refused");
        }
        let said = "10.213.0.1/16".parse::<SubnetPool>().unwrap_err();
        assert!(said.contains("10.213.0.0/16"), "{said}");
    }
}
