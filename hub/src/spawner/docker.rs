//! The Docker spawner: one container per (user, server), a named volume per user, the port
//! published on 127.0.0.1 only, limits from the size, no privileges.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions, RemoveVolumeOptions,
    StopContainerOptions,
};
use bollard::Docker;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tracing::{info, warn};

use super::readiness::jupyter_answers;
use super::{
    ProgressSink, ProgressStep, ServerStatus, SpawnError, SpawnSpec, Spawned, Spawner, SpawnerState,
};
use crate::config::SpawnerConfig;
use crate::domain::{ServerName, UserName};

const JUPYTER_PORT: &str = "8888/tcp";

/// Labels that mark a container as ours and say whose it is.
pub mod labels {
    pub const HUB: &str = "org.ganymede.hub";
    pub const USER: &str = "org.ganymede.user";
    pub const SERVER: &str = "org.ganymede.server";
}

pub struct DockerSpawner {
    config: SpawnerConfig,
    hub_id: String,
    http_timeout: Duration,
    start_timeout: Duration,
    docker: OnceCell<Docker>,
}

impl DockerSpawner {
    /// Does not touch the engine yet: the first call connects and negotiates the API version, so a
    /// hub starts even while the engine is down.
    pub fn new(config: SpawnerConfig, hub_id: String) -> Self {
        Self {
            http_timeout: Duration::from_secs(config.http_timeout_seconds),
            start_timeout: Duration::from_secs(config.start_timeout_seconds),
            config,
            hub_id,
            docker: OnceCell::new(),
        }
    }

    async fn docker(&self) -> Result<&Docker, SpawnError> {
        self.docker
            .get_or_try_init(|| async {
                let docker = if self.config.docker_host.is_empty() {
                    Docker::connect_with_local_defaults()
                } else {
                    Docker::connect_with_host(&self.config.docker_host)
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

    fn container_body(&self, spec: &SpawnSpec) -> ContainerCreateBody {
        let mut port_bindings = HashMap::new();
        port_bindings.insert(
            JUPYTER_PORT.to_owned(),
            Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]),
        );
        let memory = i64::try_from(spec.memory_mib.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
        let device_requests = (spec.gpus > 0).then(|| {
            vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count: Some(i64::from(spec.gpus)),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]
        });
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
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            labels: Some(labels),
            env: Some(vec![
                format!("JUPYTER_TOKEN={}", spec.token.expose()),
                "JUPYTERHUB_USER=".to_owned() + spec.user.as_str(),
            ]),
            cmd: Some(vec![
                "jupyter".into(),
                "lab".into(),
                "--ip=0.0.0.0".into(),
                "--port=8888".into(),
                "--no-browser".into(),
                format!("--ServerApp.base_url={}", spec.base_url),
                format!("--ServerApp.root_dir={}", self.config.notebook_dir),
                "--ServerApp.allow_remote_access=True".into(),
                "--ServerApp.trust_xheaders=True".into(),
            ]),
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
    ) -> Result<Spawned, SpawnError> {
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
        let created = docker
            .create_container(
                Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }),
                self.container_body(spec),
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
        let host_port = inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| ports.get(JUPYTER_PORT).cloned().flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
            .ok_or_else(|| SpawnError::Engine("the engine did not publish Jupyter's port".into()))?;
        let host = format!("127.0.0.1:{host_port}");
        progress(ProgressStep::new(70, "Waiting for Jupyter to answer"));

        let state = SpawnerState { container_id: Some(created.id.clone()), container_name: Some(name) };
        let deadline = Instant::now() + self.http_timeout;
        loop {
            if jupyter_answers(&host, &spec.base_url, spec.token.expose()).await {
                break;
            }
            match self.poll(&state).await? {
                ServerStatus::Running => {}
                ServerStatus::Exited { oom_killed: true, .. } => return Err(SpawnError::OutOfMemory),
                ServerStatus::Exited { code, .. } => return Err(SpawnError::Exited(code)),
                ServerStatus::Missing => return Err(SpawnError::Engine("the container disappeared".into())),
            }
            if Instant::now() > deadline {
                return Err(SpawnError::Timeout(self.http_timeout.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(Spawned { url: format!("http://{host}"), state })
    }
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
    #[tracing::instrument(skip_all, fields(user.name = %spec.user, server.name = %spec.server, image = %spec.image))]
    async fn start(&self, spec: &SpawnSpec, progress: ProgressSink<'_>) -> Result<Spawned, SpawnError> {
        let mut created: Option<String> = None;
        let outcome =
            match tokio::time::timeout(self.start_timeout, self.start_inner(spec, progress, &mut created))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(SpawnError::Timeout(self.start_timeout.as_secs())),
            };
        if outcome.is_err() {
            // Clean up whatever was made; the volume stays.
            if let (Some(id), Ok(docker)) = (created.as_deref(), self.docker().await) {
                self.remove_container(docker, id).await;
            }
        } else {
            info!("server started");
        }
        outcome
    }

    async fn stop(&self, state: &SpawnerState) -> Result<(), SpawnError> {
        let Some(id) = state.container_id.as_deref().or(state.container_name.as_deref()) else {
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
        self.remove_container(docker, id).await;
        Ok(())
    }

    async fn poll(&self, state: &SpawnerState) -> Result<ServerStatus, SpawnError> {
        let Some(id) = state.container_id.as_deref().or(state.container_name.as_deref()) else {
            return Ok(ServerStatus::Missing);
        };
        let docker = self.docker().await?;
        match docker.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(c) => {
                let s = c.state.unwrap_or_default();
                if s.running == Some(true) {
                    Ok(ServerStatus::Running)
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

    async fn remove_home(&self, user: &UserName) -> Result<(), SpawnError> {
        let docker = self.docker().await?;
        let name = self.volume_name(user);
        match docker.remove_volume(&name, Some(RemoveVolumeOptions { force: false })).await {
            Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(engine_error(e)),
        }
    }
}
