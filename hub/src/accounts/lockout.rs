//! Who a failed sign-in is counted against: the name tried *and* the client's address.
//!
//! Counting per name alone let anyone lock anyone out (the admin included) by failing five times.
//! Counting per name and address keeps the limit on guessing from one place while a stranger's
//! failures never lock out the owner signing in from elsewhere. IPv6 clients are counted per /64,
//! the block one subscriber usually holds, so cycling addresses inside it does not reset the count.

use std::fmt;
use std::net::IpAddr;

/// The client a sign-in attempt is counted against, as stored in `login_failures.client`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignInClient(String);

impl SignInClient {
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
        }
    }

    /// When the address is not known (no connection info): all such attempts share one count.
    pub fn unknown() -> Self {
        Self("unknown".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SignInClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_per_host_or_per_64() {
        let key = |s: &str| SignInClient::from_ip(s.parse().unwrap()).to_string();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
