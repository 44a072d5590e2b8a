//! The Docker spawner: one container per (user, server), a named volume per user, the port
//! published on 127.0.0.1 only, limits from the size, no privileges; each container alone on a
//! network of its own, fenced by `egress`.

mod egress;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, Ipam, IpamConfig, Mount, MountType, NetworkCreateRequest,
    PortBinding, PortMap,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, ListNetworksOptions,
    RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;

use crate::config::FlavourKind;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tracing::{info, warn};

use super::{
    ProgressSink, ProgressStep, ServerStatus, SpawnError, SpawnSpec, Spawner, SpawnerKind, Started, Upstream,
    Workload, WorkloadState,
};
use crate::config::{DockerConfig, Egress, GpuAttach};
use crate::domain::{ServerName, UserName};

const JUPYTER_PORT: &str = "8888/tcp";

/// The version of [`ContainerRef`] in stored states.
const STATE_VERSION: u32 = 1;

/// How a container is found again: its id once made, its (deterministic) name always.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct ContainerRef {
    container_id: Option<String>,
    container_name: Option<String>,
}

impl ContainerRef {
    fn state(&self) -> WorkloadState {
        WorkloadState::new(SpawnerKind::Docker, STATE_VERSION, self)
    }

    fn of(state: &WorkloadState) -> Result<Self, SpawnError> {
        state.decode(SpawnerKind::Docker, STATE_VERSION)
    }

    fn key(&self) -> Option<&str> {
        self.container_id.as_deref().or(self.container_name.as_deref())
    }
}

/// The bridge driver's switch for traffic between containers on one network.
const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";

/// Labels that mark a container as ours and say whose it is.
pub mod labels {
    pub const HUB: &str = "org.ganymede.hub";
    pub const USER: &str = "org.ganymede.user";
    pub const SERVER: &str = "org.ganymede.server";
}

struct FoundNetwork {
    id: String,
    driver: String,
    /// Whether containers on it may reach each other.
    icc: bool,
}

pub struct DockerSpawner {
    config: DockerConfig,
    hub_id: String,
    docker: OnceCell<Docker>,
    /// The id of the hub's network, once found or made.
    network: OnceCell<String>,
    /// Held while a server's network takes its subnet, so that this hub's own starts never pick
    /// the same one (other hubs on the engine are told apart by its refusal of an overlap).
    carving: tokio::sync::Mutex<()>,
}

impl DockerSpawner {
    /// Does not touch the engine yet: the first call connects and negotiates the API version, so a
    /// hub starts even while the engine is down.
    pub fn new(config: DockerConfig, hub_id: String) -> Self {
        Self {
            config,
            hub_id,
            docker: OnceCell::new(),
            network: OnceCell::new(),
            carving: Default::default(),
        }
    }

    /// The name of a server's own network: its container's name and `-net`.
    fn network_name(container_name: &str) -> String {
        format!("{container_name}-net")
    }

    /// Makes a server's own network: a bridge with inter-container communication off, on a /28
    /// of `spawner.docker.server_subnets` that no network of the engine overlaps. Its container is
    /// the only one on it, and the engine's isolation rules drop traffic between networks, so a
    /// server reaches no other server by any address; it still reaches the host, where the hub's
    /// API listener is (what else it reaches is [`Self::fence`]'s). A leftover of the same name
    /// (a crash mid-start) is replaced. Returns its id and subnet.
    async fn make_server_network(
        &self,
        docker: &Docker,
        spec: &SpawnSpec,
        name: &str,
    ) -> Result<(String, (Ipv4Addr, u8)), SpawnError> {
        let _carving = self.carving.lock().await;
        self.remove_networks_named(docker, name).await?;
        let start = u64::from_be_bytes(Sha256::digest(name.as_bytes())[..8].try_into().unwrap_or_default());
        for _ in 0..8 {
            let used = self.subnets_in_use(docker).await?;
            let Some((address, len)) = self
                .config
                .server_subnets
                .blocks(start)
                .find(|&(a, l)| !used.iter().any(|&(u, ul)| overlaps((u32::from(a), l), (u, ul))))
            else {
                return Err(SpawnError::Engine(format!(
                    "no free /28 is left in spawner.docker.server_subnets ({}) for another server's network",
                    self.config.server_subnets
                )));
            };
            let mut options = HashMap::new();
            options.insert(ICC_OPTION.to_owned(), "false".to_owned());
            let mut labels = HashMap::new();
            labels.insert(labels::HUB.to_owned(), self.hub_id.clone());
            labels.insert(labels::USER.to_owned(), spec.user.to_string());
            labels.insert(labels::SERVER.to_owned(), spec.server.to_string());
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".into()),
                options: Some(options),
                labels: Some(labels),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(format!("{address}/{len}")),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            match docker.create_network(request).await {
                Ok(created) => return Ok((created.id, (address, len))),
                // Another hub on this engine took the block since it was listed: list again.
                Err(DockerError::DockerResponseServerError { message, .. })
                    if message.contains("overlaps") => {}
                Err(e) => return Err(engine_error(e)),
            }
        }
        Err(SpawnError::Engine("every free subnet was taken while a server's network was being made".into()))
    }

    /// The IPv4 subnets of every network of the engine, as `(address, prefix length)`.
    async fn subnets_in_use(&self, docker: &Docker) -> Result<Vec<(u32, u8)>, SpawnError> {
        let listed = docker.list_networks(None::<ListNetworksOptions>).await.map_err(engine_error)?;
        Ok(listed
            .into_iter()
            .filter_map(|n| n.ipam?.config)
            .flatten()
            .filter_map(|c| {
                let (address, len) = c.subnet?.split_once('/').map(|(a, l)| (a.to_owned(), l.to_owned()))?;
                Some((
                    u32::from(address.parse::<Ipv4Addr>().ok()?),
                    len.parse::<u8>().ok().filter(|l| *l <= 32)?,
                ))
            })
            .collect())
    }

    /// Removes every network called exactly `name` (none is fine), and its egress rules.
    async fn remove_networks_named(&self, docker: &Docker, name: &str) -> Result<(), SpawnError> {
        for network in self.networks_named(docker, name).await? {
            match docker.remove_network(&network.id).await {
                Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => return Err(engine_error(e)),
            }
        }
        if self.config.egress != Egress::Open {
            egress::remove(name).await;
        }
        Ok(())
    }

    /// Puts the server's egress rules in place (`spawner.docker.egress`) before its container
    /// exists, so it never runs unfenced: the hub's API listener (the host and port of its
    /// `JUPYTERHUB_API_URL`), `egress_allow`, and what the policy allows besides.
    async fn fence(
        &self,
        spec: &SpawnSpec,
        network: &str,
        network_id: &str,
        subnet: (Ipv4Addr, u8),
    ) -> Result<(), SpawnError> {
        if self.config.egress == Egress::Open {
            return Ok(());
        }
        // The rules live in this host's packet filter: the engine's bridge must be here too.
        let bridge = format!("/sys/class/net/br-{}", network_id.get(..12).unwrap_or(network_id));
        if !std::path::Path::new(&bridge).exists() {
            return Err(SpawnError::Egress(
                "the engine's networks are not on this host (a remote engine, or a hub in a container \
                 without the host's network): run the hub on the engine's host, or set \
                 spawner.docker.egress = \"open\" and filter servers' traffic where the engine runs"
                    .into(),
            ));
        }
        let hub_api = hub_api_addresses(spec).await;
        let rules = egress::server_rules(self.config.egress, &self.config.egress_allow, &hub_api);
        // Rules of networks that are gone (removed behind the hub's back, or by a killed hub).
        let listed = egress::apply(network, subnet, &rules).await?;
        if let Ok(docker) = self.docker().await {
            if let Ok(used) = self.subnets_in_use(docker).await {
                let used: Vec<String> =
                    used.iter().map(|&(address, len)| format!("{}/{len}", Ipv4Addr::from(address))).collect();
                egress::sweep(listed, &used).await;
            }
        }
        Ok(())
    }

    /// The id of `spawner.network`, made when missing with inter-container communication off.
    /// Docker 20.10 allows two networks of one name, so concurrent hubs that both create it agree
    /// afterwards on the oldest and remove their own extra one.
    async fn network(&self, docker: &Docker) -> Result<&str, SpawnError> {
        let id = self
            .network
            .get_or_try_init(|| async {
                let name = self.config.network.as_str();
                let mut found = self.networks_named(docker, name).await?;
                let mut made = None;
                if found.is_empty() {
                    let mut options = HashMap::new();
                    options.insert(ICC_OPTION.to_owned(), "false".to_owned());
                    let mut labels = HashMap::new();
                    labels.insert(labels::HUB.to_owned(), self.hub_id.clone());
                    let created = docker
                        .create_network(NetworkCreateRequest {
                            name: name.to_owned(),
                            driver: Some("bridge".into()),
                            options: Some(options),
                            labels: Some(labels),
                            ..Default::default()
                        })
                        .await
                        .map_err(engine_error)?;
                    info!(network = name, "created the servers' network (no inter-container traffic)");
                    made = Some(created.id);
                    found = self.networks_named(docker, name).await?;
                }
                let Some(chosen) = found.into_iter().next() else {
                    return Err(SpawnError::Engine(format!("the network {name} vanished as it was made")));
                };
                if let Some(mine) = made.filter(|m| *m != chosen.id) {
                    let _ = docker.remove_network(&mine).await;
                }
                if chosen.driver != "bridge" || chosen.icc {
                    return Err(SpawnError::Engine(format!(
                        "the network {name} lets containers reach each other (it needs the bridge driver \
                         with {ICC_OPTION}=false); remove it or set spawner.docker.network to another name"
                    )));
                }
                Ok(chosen.id)
            })
            .await?;
        Ok(id.as_str())
    }

    /// Networks called exactly `name` (the engine's filter also matches parts of names), oldest first.
    async fn networks_named(&self, docker: &Docker, name: &str) -> Result<Vec<FoundNetwork>, SpawnError> {
        let mut filters = HashMap::new();
        filters.insert("name".to_owned(), vec![name.to_owned()]);
        let listed = docker
            .list_networks(Some(ListNetworksOptions { filters: Some(filters) }))
            .await
            .map_err(engine_error)?;
        let mut found: Vec<(String, FoundNetwork)> = listed
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| {
                let id = n.id?;
                let icc = n.options.as_ref().and_then(|o| o.get(ICC_OPTION)).is_none_or(|v| v != "false");
                let created = n.created.map(|c| c.to_string()).unwrap_or_default();
                Some((created, FoundNetwork { id, driver: n.driver.unwrap_or_default(), icc }))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(found.into_iter().map(|(_, n)| n).collect())
    }

    async fn docker(&self) -> Result<&Docker, SpawnError> {
        self.docker
            .get_or_try_init(|| async {
                let docker = if self.config.host.is_empty() {
                    Docker::connect_with_local_defaults()
                } else {
                    Docker::connect_with_host(&self.config.host)
                }
                .map_err(|e| SpawnError::EngineUnavailable(e.to_string()))?;
                // The engine may speak an older API than bollard's default (Debian's 20.10: 1.41).
                docker.negotiate_version().await.map_err(|e| SpawnError::EngineUnavailable(e.to_string()))
            })
            .await
    }

    /// `{prefix}-{user}[-{server}]-{hash}`: readable, and unique even where names could run together.
    pub fn container_name(&self, user: &UserName, server: &ServerName) -> String {
        let digest = Sha256::digest(format!("{}\0{}\0{}", self.hub_id, user, server).as_bytes());
        let short = hex::encode(&digest[..4]);
        if server.is_default() {
            format!("{}-{}-{}", self.config.prefix, user, short)
        } else {
            format!("{}-{}-{}-{}", self.config.prefix, user, server, short)
        }
    }

    /// The user's home volume, shared by all their servers.
    pub fn volume_name(&self, user: &UserName) -> String {
        format!("{}-home-{}", self.config.prefix, user)
    }

    fn container_body(&self, spec: &SpawnSpec, network: &str) -> ContainerCreateBody {
        let mut port_bindings = HashMap::new();
        port_bindings.insert(
            JUPYTER_PORT.to_owned(),
            Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]),
        );
        let memory = i64::try_from(spec.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
        let (device_requests, gpu_env) = gpu_attachment(self.config.gpu_attach, &spec.gpus);
        let host_config = HostConfig {
            port_bindings: Some(port_bindings),
            memory: Some(memory),
            memory_swap: Some(memory),
            nano_cpus: Some((spec.cpu * 1e9) as i64),
            pids_limit: Some(self.config.pids_limit),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            privileged: Some(false),
            device_requests,
            network_mode: Some(network.to_owned()),
            mounts: Some(vec![Mount {
                target: Some(self.config.notebook_dir.clone()),
                source: Some(self.volume_name(&spec.user)),
                typ: Some(MountType::VOLUME),
                read_only: Some(false),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let mut labels = HashMap::new();
        labels.insert(labels::HUB.to_owned(), self.hub_id.clone());
        labels.insert(labels::USER.to_owned(), spec.user.to_string());
        labels.insert(labels::SERVER.to_owned(), spec.server.to_string());
        let (env, cmd) = match spec.kind {
            FlavourKind::Jupyterlab => {
                let mut env = vec![
                    format!("JUPYTER_TOKEN={}", spec.token.expose()),
                    "JUPYTERHUB_USER=".to_owned() + spec.user.as_str(),
                ];
                env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
                let mut cmd = spec.cmd.clone().unwrap_or_else(|| {
                    vec![
                        "jupyter".into(),
                        "lab".into(),
                        "--ip=0.0.0.0".into(),
                        "--port=8888".into(),
                        "--no-browser".into(),
                        format!("--ServerApp.base_url={}", spec.base_url),
                        format!("--ServerApp.root_dir={}", self.config.notebook_dir),
                        "--ServerApp.allow_remote_access=True".into(),
                        "--ServerApp.trust_xheaders=True".into(),
                    ]
                });
                cmd.extend(spec.args.iter().cloned());
                (env, cmd)
            }
            // The single-user contract: everything through the environment, no arguments needed.
            FlavourKind::JupyterhubSingleuser => {
                let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                env.push(format!("JUPYTERHUB_ROOT_DIR={}", self.config.notebook_dir));
                let mut cmd = spec.cmd.clone().unwrap_or_else(|| vec!["jupyterhub-singleuser".into()]);
                cmd.extend(spec.args.iter().cloned());
                (env, cmd)
            }
        };
        let mut env = env;
        env.push(gpu_env);
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            labels: Some(labels),
            env: Some(env),
            cmd: Some(cmd),
            user: spec.run_as.clone(),
            exposed_ports: Some(vec![JUPYTER_PORT.to_owned()]),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    async fn remove_container(&self, docker: &Docker, id: &str) {
        let options = RemoveContainerOptions { force: true, ..Default::default() };
        match docker.remove_container(id, Some(options)).await {
            Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => warn!(container = id, error = %e, "removing a container failed"),
        }
    }

    async fn start_inner(
        &self,
        spec: &SpawnSpec,
        progress: ProgressSink<'_>,
        id_slot: &mut Option<String>,
        network_slot: &mut Option<String>,
    ) -> Result<Started, SpawnError> {
        let docker = self.docker().await?;
        match docker.inspect_image(&spec.image).await {
            Ok(_) => progress(ProgressStep::new(20, format!("Image {} found", spec.image))),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(SpawnError::ImageMissing(spec.image.clone()))
            }
            Err(e) => return Err(engine_error(e)),
        }
        let name = self.container_name(&spec.user, &spec.server);
        // A leftover container of the same name (a crash mid-start) is ours to replace.
        self.remove_container(docker, &name).await;
        let network = Self::network_name(&name);
        let (network_id, subnet) = self.make_server_network(docker, spec, &network).await?;
        *network_slot = Some(network.clone());
        self.fence(spec, &network, &network_id, subnet).await?;
        let created = docker
            .create_container(
                Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }),
                self.container_body(spec, &network),
            )
            .await
            .map_err(engine_error)?;
        *id_slot = Some(created.id.clone());
        progress(ProgressStep::new(40, "Container created"));
        docker.start_container(&created.id, None).await.map_err(engine_error)?;
        progress(ProgressStep::new(60, "Container started"));

        let inspected = docker
            .inspect_container(&created.id, None::<InspectContainerOptions>)
            .await
            .map_err(engine_error)?;
        // A container that already exited has no port: say how it ended, not that a port is missing.
        if let Some(state) = inspected.state.as_ref().filter(|s| s.running == Some(false)) {
            if state.oom_killed == Some(true) {
                return Err(SpawnError::OutOfMemory);
            }
            if let Some(code) = state.exit_code {
                return Err(SpawnError::Exited(code));
            }
        }
        let upstream = inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| published_address(&ports))
            .ok_or_else(|| SpawnError::Engine("the engine did not publish Jupyter's port".into()))?;
        let state =
            ContainerRef { container_id: Some(created.id.clone()), container_name: Some(name) }.state();
        Ok(Started { upstream, state })
    }
}

/// Where a single-user server's `JUPYTERHUB_API_URL` points, as IPv4 socket addresses (a name is
/// resolved now); none for a server without one.
async fn hub_api_addresses(spec: &SpawnSpec) -> Vec<std::net::SocketAddrV4> {
    let Some(url) = spec.env.iter().find(|(k, _)| k == "JUPYTERHUB_API_URL").map(|(_, v)| v.as_str()) else {
        return Vec::new();
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => {
            warn!(url, error = %e, "the servers' API URL does not parse; the server will not reach the hub");
            return Vec::new();
        }
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Vec::new();
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    match tokio::net::lookup_host((host, port)).await {
        Ok(found) => found
            .filter_map(|a| match a {
                std::net::SocketAddr::V4(v4) => Some(v4),
                std::net::SocketAddr::V6(_) => None,
            })
            .collect(),
        Err(e) => {
            warn!(url, error = %e, "the servers' API address does not resolve; the server will not reach the hub");
            Vec::new()
        }
    }
}

/// Whether two IPv4 subnets share an address.
fn overlaps((a, a_len): (u32, u8), (b, b_len): (u32, u8)) -> bool {
    let len = a_len.min(b_len);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
    a & mask == b & mask
}

/// Where Jupyter's port is published on the host (always 127.0.0.1).
fn published_address(ports: &PortMap) -> Option<Upstream> {
    let port = ports
        .get(JUPYTER_PORT)
        .cloned()
        .flatten()?
        .into_iter()
        .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()))?;
    Some(Upstream::http(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

fn engine_error(e: DockerError) -> SpawnError {
    match e {
        DockerError::DockerResponseServerError { status_code, message } => {
            SpawnError::Engine(format!("{message} (HTTP {status_code})"))
        }
        DockerError::IOError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::RequestTimeoutError => SpawnError::EngineUnavailable(e.to_string()),
        other => SpawnError::Engine(other.to_string()),
    }
}

#[async_trait]
impl Spawner for DockerSpawner {
    fn kind(&self) -> SpawnerKind {
        SpawnerKind::Docker
    }

    #[tracing::instrument(skip_all, fields(user.name = %spec.user, server.name = %spec.server, image = %spec.image))]
    async fn start(&self, spec: &SpawnSpec, progress: ProgressSink<'_>) -> Result<Started, SpawnError> {
        let (mut created, mut network) = (None, None);
        let outcome = self.start_inner(spec, progress, &mut created, &mut network).await;
        // A container that ran and exited stays for the hub to read its log; the hub removes it
        // (and its network) right after, by the planned state.
        let exited = matches!(outcome, Err(SpawnError::Exited(_) | SpawnError::OutOfMemory));
        if outcome.is_err() && !exited {
            // Clean up whatever was made; the volume stays.
            if let Ok(docker) = self.docker().await {
                if let Some(id) = created.as_deref() {
                    self.remove_container(docker, id).await;
                }
                if let Some(name) = network.as_deref() {
                    if let Err(e) = self.remove_networks_named(docker, name).await {
                        warn!(network = name, error = %e, "removing a server's network failed");
                    }
                }
            }
        } else {
            info!("container started");
        }
        outcome
    }

    async fn stop(&self, state: &WorkloadState) -> Result<(), SpawnError> {
        let container = ContainerRef::of(state)?;
        let Some(id) = container.key() else {
            return Ok(());
        };
        let docker = self.docker().await?;
        match docker
            .stop_container(id, Some(StopContainerOptions { t: Some(10), ..Default::default() }))
            .await
        {
            Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 304 | 404, .. }) => {}
            Err(e) => return Err(engine_error(e)),
        }
        let options = RemoveContainerOptions { force: true, ..Default::default() };
        match docker.remove_container(id, Some(options)).await {
            Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => return Err(engine_error(e)),
        }
        // Its own network goes with it (a server stored before networks were per server has none).
        match container.container_name.as_deref() {
            Some(name) => self.remove_networks_named(docker, &Self::network_name(name)).await,
            None => Ok(()),
        }
    }

    async fn poll(&self, state: &WorkloadState) -> Result<ServerStatus, SpawnError> {
        let container = ContainerRef::of(state)?;
        let Some(id) = container.key() else {
            return Ok(ServerStatus::Missing);
        };
        let docker = self.docker().await?;
        match docker.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(c) => {
                let s = c.state.unwrap_or_default();
                if s.restarting == Some(true) {
                    Ok(ServerStatus::Restarting)
                } else if s.running == Some(true) {
                    let upstream =
                        c.network_settings.and_then(|n| n.ports).and_then(|ports| published_address(&ports));
                    Ok(ServerStatus::Running { upstream })
                } else {
                    Ok(ServerStatus::Exited {
                        code: s.exit_code.unwrap_or(-1),
                        oom_killed: s.oom_killed.unwrap_or(false),
                    })
                }
            }
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(ServerStatus::Missing),
            Err(e) => Err(engine_error(e)),
        }
    }

    /// A policy the hub cannot enforce stops it before it serves.
    async fn preflight(&self) -> Result<(), SpawnError> {
        match self.config.egress {
            Egress::Open => Ok(()),
            Egress::Internet | Egress::HubOnly => egress::check_permitted().await,
        }
    }

    async fn ready(&self) -> Result<(), SpawnError> {
        let docker = self.docker().await?;
        docker.ping().await.map(|_| ()).map_err(|e| SpawnError::EngineUnavailable(e.to_string()))
    }

    /// The gateway of the hub's network: a host address every server's own network reaches.
    async fn hub_gateway(&self) -> Result<Option<std::net::IpAddr>, SpawnError> {
        let docker = self.docker().await?;
        let network = self.network(docker).await?.to_owned();
        let inspected = docker
            .inspect_network(&network, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
            .map_err(engine_error)?;
        let gateway = inspected
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.gateway)
            .find_map(|g| g.parse::<std::net::IpAddr>().ok().filter(std::net::IpAddr::is_ipv4));
        Ok(gateway)
    }

    /// One sample of the engine's stats API (cgroup v1 or v2): CPU over the engine's own
    /// interval between its two readings, memory without the page cache.
    async fn logs(&self, state: &WorkloadState, lines: usize) -> Result<Option<String>, SpawnError> {
        use futures_util::StreamExt;
        let container = ContainerRef::of(state)?;
        let Some(id) = container.key() else { return Ok(None) };
        let docker = self.docker().await?;
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&String::from_utf8_lossy(&output.into_bytes())),
                Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => return Ok(None),
                Err(e) => return Err(engine_error(e)),
            }
        }
        Ok(Some(text))
    }

    async fn usage(&self, state: &WorkloadState) -> Result<Option<super::Usage>, SpawnError> {
        use futures_util::StreamExt;
        let container = ContainerRef::of(state)?;
        let Some(id) = container.key() else { return Ok(None) };
        let docker = self.docker().await?;
        let options = bollard::query_parameters::StatsOptions { stream: false, one_shot: false };
        let sample = match docker.stats(id, Some(options)).next().await {
            Some(Ok(sample)) => sample,
            Some(Err(DockerError::DockerResponseServerError { status_code: 404, .. })) | None => {
                return Ok(None)
            }
            Some(Err(e)) => return Err(engine_error(e)),
        };
        Ok(Some(usage_of(&sample)))
    }

    async fn remove_home(&self, user: &UserName) -> Result<(), SpawnError> {
        let docker = self.docker().await?;
        let name = self.volume_name(user);
        match docker.remove_volume(&name, Some(RemoveVolumeOptions { force: false })).await {
            Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(engine_error(e)),
        }
    }

    fn planned_state(&self, user: &UserName, server: &ServerName) -> WorkloadState {
        ContainerRef { container_id: None, container_name: Some(self.container_name(user, server)) }.state()
    }

    async fn workloads(&self) -> Result<Vec<Workload>, SpawnError> {
        let docker = self.docker().await?;
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec![format!("{}={}", labels::HUB, self.hub_id)]);
        let listed = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(engine_error)?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let name =
                    c.names.and_then(|n| n.into_iter().next()).map(|n| n.trim_start_matches('/').to_owned());
                Some(Workload {
                    user: labels.get(labels::USER)?.clone(),
                    server: labels.get(labels::SERVER).cloned().unwrap_or_default(),
                    running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
                    state: ContainerRef { container_id: c.id, container_name: name }.state(),
                })
            })
            .collect())
    }
}

/// CPU percent (of one core) and memory from one stats sample.
fn usage_of(sample: &bollard::models::ContainerStatsResponse) -> super::Usage {
    let total = |c: &Option<bollard::models::ContainerCpuStats>| {
        c.as_ref().and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0)
    };
    let system = |c: &Option<bollard::models::ContainerCpuStats>| {
        c.as_ref().and_then(|c| c.system_cpu_usage).unwrap_or(0)
    };
    let cpu_delta = total(&sample.cpu_stats).saturating_sub(total(&sample.precpu_stats)) as f64;
    let system_delta = system(&sample.cpu_stats).saturating_sub(system(&sample.precpu_stats)) as f64;
    let cpus = sample.cpu_stats.as_ref().and_then(|c| c.online_cpus).unwrap_or(1).max(1);
    let cpu_percent =
        if system_delta > 0.0 { cpu_delta / system_delta * f64::from(cpus) * 100.0 } else { 0.0 };
    let memory = sample.memory_stats.as_ref();
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| s.get("total_inactive_file").or_else(|| s.get("inactive_file")).copied())
        .unwrap_or(0);
    let used = memory.and_then(|m| m.usage).unwrap_or(0).saturating_sub(cache);
    super::Usage { cpu_percent, memory_bytes: used, memory_limit_bytes: memory.and_then(|m| m.limit) }
}

/// How a container gets exactly `gpus` (UUIDs) and nothing more. Either way the environment says
/// `NVIDIA_VISIBLE_DEVICES`: the UUIDs, or `void` for a server without GPUs, so an image that
/// sets `all` for itself gets nothing (with the toolkit's `accept-nvidia-visible-devices-envvar-
/// when-unprivileged = false` the variable is ignored and only the device request counts).
fn gpu_attachment(mode: GpuAttach, gpus: &[String]) -> (Option<Vec<DeviceRequest>>, String) {
    if gpus.is_empty() {
        return (None, "NVIDIA_VISIBLE_DEVICES=void".to_owned());
    }
    let env = format!("NVIDIA_VISIBLE_DEVICES={}", gpus.join(","));
    match mode {
        // Named devices, never a count: a count is always GPUs 0..N-1, whoever holds them.
        GpuAttach::DeviceRequest => (
            Some(vec![DeviceRequest {
                driver: Some("nvidia".into()),
                device_ids: Some(gpus.to_vec()),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]),
            env,
        ),
        GpuAttach::NvidiaRuntimeEnv => (None, env),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_overlap_when_the_shorter_prefix_covers_both() {
        let ip = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert!(overlaps((ip("10.213.0.16"), 28), (ip("10.213.0.0"), 16)));
        assert!(overlaps((ip("10.213.0.16"), 28), (ip("10.213.0.16"), 28)));
        assert!(!overlaps((ip("10.213.0.16"), 28), (ip("10.213.0.32"), 28)));
        assert!(!overlaps((ip("10.213.0.0"), 28), (ip("172.17.0.0"), 16)));
        assert!(overlaps((ip("10.213.0.0"), 28), (ip("0.0.0.0"), 0)));
    }

    #[test]
    fn gpus_are_attached_by_uuid_never_by_count_and_none_means_void() {
        let gpus = vec!["GPU-aaaa".to_owned(), "GPU-bbbb".to_owned()];
        let (requests, env) = gpu_attachment(GpuAttach::DeviceRequest, &gpus);
        let request = &requests.expect("a device request")[0];
        assert_eq!(request.device_ids.as_deref(), Some(&gpus[..]));
        assert_eq!(request.count, None, "a count would mean GPUs 0..N-1");
        assert_eq!(env, "NVIDIA_VISIBLE_DEVICES=GPU-aaaa,GPU-bbbb");
        let (requests, env) = gpu_attachment(GpuAttach::NvidiaRuntimeEnv, &gpus);
        assert!(requests.is_none());
        assert_eq!(env, "NVIDIA_VISIBLE_DEVICES=GPU-aaaa,GPU-bbbb");
        for mode in [GpuAttach::DeviceRequest, GpuAttach::NvidiaRuntimeEnv] {
            assert_eq!(gpu_attachment(mode, &[]), (None, "NVIDIA_VISIBLE_DEVICES=void".to_owned()));
        }
    }
}
