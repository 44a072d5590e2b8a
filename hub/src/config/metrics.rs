//! `[metrics]`: who may read `GET /hub/metrics`. As JupyterHub's `authenticate_prometheus`, a
//! scrape needs a token (or session) with `read:metrics` unless this section opens it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Whether a scrape must carry `read:metrics`. Default `true`. `false` opens the metrics to
    /// anyone who reaches the hub.
    pub authenticate: bool,
    /// Addresses that may scrape without a token when `authenticate` is on: `a.b.c.d`,
    /// `a.b.c.d/len` or IPv6 alike (e.g. `["127.0.0.1", "10.0.0.0/8"]`). Default: none.
    pub open_to: Vec<AddressRange>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { authenticate: true, open_to: Vec::new() }
    }
}

impl MetricsConfig {
    /// Whether a scrape from `peer` needs no token.
    pub fn open_for(&self, peer: Option<IpAddr>) -> bool {
        !self.authenticate || peer.is_some_and(|p| self.open_to.iter().any(|r| r.contains(p)))
    }
}

/// An address or a network, written `a.b.c.d[/len]` (IPv6 alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::invalid("metrics.open_to", format!("{text:?}: {why}"));
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad("not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| bad("not a prefix length"))?
            }
            None => max,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack listener arrives as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl TryFrom<String> for AddressRange {
    type Error = ConfigError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<AddressRange> for String {
    fn from(range: AddressRange) -> String {
        format!("{}/{}", range.network, range.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_what_their_prefix_says() {
        let local = AddressRange::parse("127.0.0.1").unwrap();
        assert!(local.contains("127.0.0.1".parse().unwrap()));
        assert!(!local.contains("127.0.0.2".parse().unwrap()));
        let ten = AddressRange::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains("10.20.30.40".parse().unwrap()));
        assert!(ten.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!ten.contains("11.0.0.1".parse().unwrap()));
        assert!(AddressRange::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(AddressRange::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "example.org", "10.0.0.0/x"] {
            assert!(AddressRange::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_scrape_needs_a_token_unless_opened() {
        let mut config = MetricsConfig::default();
        assert!(!config.open_for(Some("127.0.0.1".parse().unwrap())));
        config.open_to = vec![AddressRange::parse("127.0.0.0/8").unwrap()];
        assert!(config.open_for(Some("127.0.0.1".parse().unwrap())));
        assert!(!config.open_for(Some("192.0.2.1".parse().unwrap())));
        assert!(!config.open_for(None));
        config.authenticate = false;
        assert!(config.open_for(None));
    }
}
