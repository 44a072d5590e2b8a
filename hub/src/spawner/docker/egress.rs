//! Where a server may connect to (`spawner.docker.egress`): the rules of the engine host's packet
//! filter (iptables), one chain per server's network.
//!
//! Two chains of ours sit first in the host's: `GANYMEDE-INPUT` (from `INPUT`: what reaches the
//! host itself, the hub's API listener among it) and `GANYMEDE-FORWARD` (from Docker's
//! `DOCKER-USER`: what leaves for other machines). Each lets answers to connections already made
//! through, then sends a server's subnet (`-s 10.213.0.16/28`) to that server's own chain,
//! `GMD-…`, which allows the hub's API, DNS and `egress_allow`, and refuses the rest the policy
//! forbids. A chain of one server never touches another's traffic, so hubs that share the engine
//! with other API ports, pools or policies keep theirs. The chain goes with the network.

use std::net::{Ipv4Addr, SocketAddrV4};

use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::SpawnError;
use crate::config::{Egress, EgressTarget};

const INPUT_CHAIN: &str = "GANYMEDE-INPUT";
const FORWARD_CHAIN: &str = "GANYMEDE-FORWARD";
/// Ours, then the hook in the host's table that jumps to it.
const HOOKS: [(&str, &str); 2] = [(INPUT_CHAIN, "INPUT"), (FORWARD_CHAIN, "DOCKER-USER")];
const ANSWERS: [&str; 6] = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"];

/// Address ranges no server reaches under `internet`: private, shared (carrier-grade NAT),
/// link-local (cloud metadata at 169.254.169.254) and "this network".
const PRIVATE: [&str; 6] =
    ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"];

/// The chain of the server whose network is `network` (iptables allows 28 characters).
pub(super) fn chain_name(network: &str) -> String {
    let digest = Sha256::digest(network.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("GMD-{hex}")
}

/// The rules of a server's own chain, in order, each as iptables arguments after `-A CHAIN`.
/// Empty for `open`, which leaves the engine's defaults.
pub(super) fn server_rules(
    policy: Egress,
    allow: &[EgressTarget],
    hub_api: &[SocketAddrV4],
) -> Vec<Vec<String>> {
    let mut rules = Vec::new();
    if policy == Egress::Open {
        return rules;
    }
    let owned = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    for api in hub_api {
        rules.push(owned(&[
            "-d",
            &format!("{}/32", api.ip()),
            "-p",
            "tcp",
            "--dport",
            &api.port().to_string(),
            "-j",
            "RETURN",
        ]));
    }
    for target in allow {
        let mut rule = owned(&["-d", &target.network()]);
        if let Some(port) = target.port() {
            rule.extend(owned(&["-p", "tcp", "--dport", &port.to_string()]));
        }
        rule.extend(owned(&["-j", "RETURN"]));
        rules.push(rule);
    }
    match policy {
        Egress::Open => {}
        Egress::HubOnly => rules.push(owned(&["-j", "REJECT"])),
        Egress::Internet => {
            // Names resolve wherever the resolver is (a router or the host itself often is).
            rules.push(owned(&["-p", "udp", "--dport", "53", "-j", "RETURN"]));
            rules.push(owned(&["-p", "tcp", "--dport", "53", "-j", "RETURN"]));
            // Every address of the host (its public ones too): only the hub's API is open there.
            rules.push(owned(&["-m", "addrtype", "--dst-type", "LOCAL", "-j", "REJECT"]));
            for range in PRIVATE {
                rules.push(owned(&["-d", range, "-j", "REJECT"]));
            }
        }
    }
    rules
}

/// Runs `iptables -w ARGS`; its output on success.
async fn iptables(args: &[&str]) -> Result<String, SpawnError> {
    let out = tokio::process::Command::new("iptables")
        .arg("-w")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            SpawnError::Egress(format!("running iptables failed ({e}); install the iptables package"))
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(SpawnError::Egress(format!(
            "iptables {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether this process may change the host's packet filter: checked when the hub starts, so that
/// a policy it cannot enforce stops it there rather than at someone's first start.
pub async fn check_permitted() -> Result<(), SpawnError> {
    iptables(&["-S", "INPUT"]).await.map(drop).map_err(|e| {
        let why = match e {
            SpawnError::Egress(why) => why,
            other => other.to_string(),
        };
        SpawnError::Egress(format!(
            "{why}. The hub must run on the engine's host with the right to change its packet filter \
             (root, or CAP_NET_ADMIN on the host's network), or set spawner.docker.egress = \"open\""
        ))
    })
}

/// Our two chains and their hooks, made where missing (the host's firewall or a reboot may have
/// dropped them).
async fn ensure_hooks() -> Result<(), SpawnError> {
    for (chain, hook) in HOOKS {
        if iptables(&["-S", chain]).await.is_err() {
            // Two hubs may race here: "already exists" is fine.
            let _ = iptables(&["-N", chain]).await;
        }
        let mut check = vec!["-C", chain];
        check.extend(ANSWERS);
        if iptables(&check).await.is_err() {
            let mut insert = vec!["-I", chain, "1"];
            insert.extend(ANSWERS);
            iptables(&insert).await?;
        }
        if iptables(&["-C", hook, "-j", chain]).await.is_err() {
            iptables(&["-I", hook, "1", "-j", chain]).await.map_err(|e| match hook {
                "DOCKER-USER" => SpawnError::Egress(format!(
                    "{e} (the engine keeps no DOCKER-USER chain: is it running with iptables off?)"
                )),
                _ => e,
            })?;
        }
    }
    Ok(())
}

/// A jump of our chains to a server's chain: its subnet, its chain, and the `-D` arguments.
pub(super) struct Jump {
    subnet: String,
    chain: String,
    delete: Vec<String>,
}

/// Every jump of our chains to a server's chain.
pub(super) async fn jumps() -> Vec<Jump> {
    let mut found = Vec::new();
    for (ours, _) in HOOKS {
        let Ok(listed) = iptables(&["-S", ours]).await else { continue };
        for line in listed.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |flag: &str| words.iter().position(|w| *w == flag).and_then(|i| words.get(i + 1));
            if let (Some(&"-A"), Some(subnet), Some(chain)) = (words.first(), after("-s"), after("-j")) {
                if chain.starts_with("GMD-") {
                    let mut delete = vec!["-D".to_owned()];
                    delete.extend(words[1..].iter().map(|w| (*w).to_owned()));
                    found.push(Jump { subnet: (*subnet).to_owned(), chain: (*chain).to_owned(), delete });
                }
            }
        }
    }
    found
}

/// Removes the jumps (listed by [`jumps`] *before* the engine's networks were, so that a network
/// made meanwhile is never taken for gone) whose subnet no network has any more, and their
/// chains: what a network removed behind the hub's back, or a hub killed, left.
pub(super) async fn sweep(listed: Vec<Jump>, in_use: &[String]) {
    let mut chains = Vec::new();
    for jump in listed.into_iter().filter(|j| !in_use.contains(&j.subnet)) {
        let args: Vec<&str> = jump.delete.iter().map(String::as_str).collect();
        let _ = iptables(&args).await;
        if !chains.contains(&jump.chain) {
            chains.push(jump.chain);
        }
    }
    for chain in chains {
        debug!(chain, "removing the egress rules of a network that is gone");
        if iptables(&["-F", &chain]).await.is_ok() {
            let _ = iptables(&["-X", &chain]).await;
        }
    }
}

/// Puts a server's rules in place before its container exists: its chain, then the jumps of its
/// subnet. Whatever an earlier network of the same name or subnet left is replaced. Returns the
/// other jumps it found, listed before it changed anything (for [`sweep`]).
pub(super) async fn apply(
    network: &str,
    subnet: (Ipv4Addr, u8),
    rules: &[Vec<String>],
) -> Result<Vec<Jump>, SpawnError> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    ensure_hooks().await?;
    let chain = chain_name(network);
    let subnet = format!("{}/{}", subnet.0, subnet.1);
    let (stale, others): (Vec<Jump>, Vec<Jump>) =
        jumps().await.into_iter().partition(|j| j.chain == chain || j.subnet == subnet);
    for stale in stale {
        let args: Vec<&str> = stale.delete.iter().map(String::as_str).collect();
        let _ = iptables(&args).await;
    }
    if iptables(&["-N", &chain]).await.is_err() {
        iptables(&["-F", &chain]).await?;
    }
    for rule in rules {
        let mut args = vec!["-A", chain.as_str()];
        args.extend(rule.iter().map(String::as_str));
        iptables(&args).await?;
    }
    for (ours, _) in HOOKS {
        iptables(&["-A", ours, "-s", &subnet, "-j", &chain]).await?;
    }
    debug!(network, chain, subnet, rules = rules.len(), "egress rules in place");
    Ok(others)
}

/// Removes a server's chain and the jumps to it (none is fine).
pub(super) async fn remove(network: &str) {
    let chain = chain_name(network);
    for jump in jumps().await.into_iter().filter(|j| j.chain == chain) {
        let args: Vec<&str> = jump.delete.iter().map(String::as_str).collect();
        if let Err(e) = iptables(&args).await {
            warn!(network, error = %e, "removing an egress rule failed");
        }
    }
    if iptables(&["-F", &chain]).await.is_ok() {
        if let Err(e) = iptables(&["-X", &chain]).await {
            warn!(network, error = %e, "removing a server's egress chain failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(s: &str) -> EgressTarget {
        s.parse().expect("a target")
    }

    #[test]
    fn chain_names_fit_iptables_and_differ_per_network() {
        let a = chain_name("ganymede-alice-net");
        assert!(a.len() <= 28, "{a}");
        assert_ne!(a, chain_name("ganymede-bob-net"));
        assert_eq!(a, chain_name("ganymede-alice-net"));
    }

    #[test]
    fn open_adds_nothing_and_hub_only_refuses_all_but_what_is_allowed() {
        assert!(server_rules(Egress::Open, &[allow("10.0.0.5:3128")], &[]).is_empty());
        let api: SocketAddrV4 = "172.18.0.1:8081".parse().unwrap();
        let rules = server_rules(Egress::HubOnly, &[allow("10.0.0.5:3128")], &[api]);
        let joined: Vec<String> = rules.iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            joined,
            [
                "-d 172.18.0.1/32 -p tcp --dport 8081 -j RETURN",
                "-d 10.0.0.5/32 -p tcp --dport 3128 -j RETURN",
                "-j REJECT",
            ]
        );
    }

    #[test]
    fn internet_allows_the_hub_and_dns_first_and_refuses_the_host_and_private_ranges() {
        let api: SocketAddrV4 = "172.18.0.1:8081".parse().unwrap();
        let rules = server_rules(Egress::Internet, &[allow("192.168.7.0/24")], &[api]);
        let joined: Vec<String> = rules.iter().map(|r| r.join(" ")).collect();
        let position = |needle: &str| {
            joined.iter().position(|r| r == needle).unwrap_or_else(|| panic!("{needle} in {joined:?}"))
        };
        let local = position("-m addrtype --dst-type LOCAL -j REJECT");
        assert!(position("-d 172.18.0.1/32 -p tcp --dport 8081 -j RETURN") < local);
        assert!(position("-d 192.168.7.0/24 -j RETURN") < position("-d 192.168.0.0/16 -j REJECT"));
        assert!(position("-p udp --dport 53 -j RETURN") < local);
        for range in PRIVATE {
            position(&format!("-d {range} -j REJECT"));
        }
        assert!(!joined.iter().any(|r| r == "-j REJECT"), "public addresses stay open: {joined:?}");
    }
}
