//! `[[flavours]]` and `[[sizes]]`: what people can pick when they start a server.

use serde::{Deserialize, Serialize};

use super::spawner::SpawnerChoice;
use super::ConfigError;

/// `[[flavours]]`: a notebook image people can pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlavourConfig {
    /// Short id used in URLs and the API, e.g. `scipy`.
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// Container image, e.g. `ganymede/scipy:latest` (the Docker spawner; needed with it).
    #[serde(default)]
    pub image: String,
    /// The local spawner: absolute path of a venv or conda prefix with `bin/jupyterhub-singleuser`
    /// (kind `jupyterhub-singleuser`) or `bin/jupyter` (kind `jupyterlab`). Needed with
    /// `spawner.kind = "local"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The card's icon: one the site ships (`planet`, `chart`, `chip`, `book`), or the path or
    /// https URL of an image. Anything else is shown as text.
    #[serde(default)]
    pub icon: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Ids of the sizes this flavour may run with; empty means all.
    #[serde(default)]
    pub sizes: Vec<String>,
    /// How the image starts: `jupyterlab` (plain `jupyter lab`, with a token the hub's proxy
    /// adds) or `jupyterhub-singleuser` (JupyterHub's single-user contract: the hub is its OAuth
    /// provider, the browser authenticates itself). Default `jupyterhub-singleuser`: what
    /// JupyterHub's images run (the built-in `base` and `scipy` flavours say `jupyterlab`).
    #[serde(default)]
    pub kind: FlavourKind,
    /// The command instead of the kind's own (`jupyterhub-singleuser`, or the image's `jupyter lab`
    /// line), e.g. `["start-notebook.py"]` for a docker-stacks image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Arguments after the command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment for the server (not `NVIDIA_*`, `CUDA_*` or `JUPYTERHUB_*`: the hub sets those).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// `uid:gid` (or `uid`) the container runs as, e.g. `1000:100` for docker-stacks images; the
    /// image's own user when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// How a flavour's image starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlavourKind {
    Jupyterlab,
    #[default]
    JupyterhubSingleuser,
}

/// `[[sizes]]`: resources for one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    pub id: String,
    pub display_name: String,
    /// CPU limit in cores (fractions allowed).
    pub cpu: f64,
    /// Memory limit in MiB.
    pub memory_mib: u64,
    /// GPUs (or MIG instances) given to the server, each for it alone.
    #[serde(default)]
    pub gpus: u32,
    /// Only GPUs whose model contains this text (any case), e.g. `A100`.
    #[serde(default)]
    pub gpu_model: Option<String>,
    /// Only GPUs with at least this much memory, in MiB.
    #[serde(default)]
    pub gpu_min_memory_mib: Option<u64>,
    /// Only MIG instances of this profile, e.g. `1g.18gb`; without it, only whole GPUs.
    #[serde(default)]
    pub mig_profile: Option<String>,
}

pub fn default_flavours() -> Vec<FlavourConfig> {
    vec![
        FlavourConfig {
            id: "base".into(),
            display_name: "Base".into(),
            description: "JupyterLab with Python 3.".into(),
            image: "ganymede/base:latest".into(),
            icon: "planet".into(),
            tags: vec!["python".into()],
            sizes: vec![],
            environment: None,
            kind: FlavourKind::Jupyterlab,
            cmd: None,
            args: vec![],
            env: Default::default(),
            user: None,
        },
        FlavourConfig {
            id: "scipy".into(),
            display_name: "SciPy".into(),
            description: "numpy, scipy, pandas, matplotlib and scikit-learn.".into(),
            image: "ganymede/scipy:latest".into(),
            icon: "chart".into(),
            tags: vec!["python".into(), "data".into()],
            sizes: vec![],
            environment: None,
            kind: FlavourKind::Jupyterlab,
            cmd: None,
            args: vec![],
            env: Default::default(),
            user: None,
        },
    ]
}

pub fn default_sizes() -> Vec<SizeConfig> {
    vec![
        SizeConfig {
            id: "small".into(),
            display_name: "Small".into(),
            cpu: 1.0,
            memory_mib: 2048,
            gpus: 0,
            gpu_model: None,
            gpu_min_memory_mib: None,
            mig_profile: None,
        },
        SizeConfig {
            id: "medium".into(),
            display_name: "Medium".into(),
            cpu: 2.0,
            memory_mib: 4096,
            gpus: 0,
            gpu_model: None,
            gpu_min_memory_mib: None,
            mig_profile: None,
        },
        SizeConfig {
            id: "gpu-1".into(),
            display_name: "1 GPU".into(),
            cpu: 4.0,
            memory_mib: 16384,
            gpus: 1,
            gpu_model: None,
            gpu_min_memory_mib: None,
            mig_profile: None,
        },
        SizeConfig {
            id: "gpu-2".into(),
            display_name: "2 GPUs".into(),
            cpu: 8.0,
            memory_mib: 32768,
            gpus: 2,
            gpu_model: None,
            gpu_min_memory_mib: None,
            mig_profile: None,
        },
    ]
}

/// Short ids (flavours, sizes, name prefixes): 1-32 characters of a-z, 0-9, '-' and '_'.
pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(super) fn validate_catalogue(
    flavours: &[FlavourConfig],
    sizes: &[SizeConfig],
    kind: SpawnerChoice,
) -> Result<(), ConfigError> {
    if flavours.is_empty() {
        return Err(ConfigError::invalid("flavours", "at least one flavour is needed"));
    }
    if sizes.is_empty() {
        return Err(ConfigError::invalid("sizes", "at least one size is needed"));
    }
    let mut seen = std::collections::HashSet::new();
    for s in sizes {
        if !valid_id(&s.id) {
            return Err(ConfigError::invalid(
                "sizes.id",
                format!("{:?}: use 1-32 characters of a-z, 0-9, '-' and '_'", s.id),
            ));
        }
        if !seen.insert(s.id.as_str()) {
            return Err(ConfigError::invalid("sizes.id", format!("{:?} appears twice", s.id)));
        }
        if !(s.cpu > 0.0 && s.cpu <= 1024.0) {
            return Err(ConfigError::invalid(
                "sizes.cpu",
                format!("size {:?}: must be above 0 and at most 1024", s.id),
            ));
        }
        if s.memory_mib < 64 {
            return Err(ConfigError::invalid(
                "sizes.memory_mib",
                format!("size {:?}: must be at least 64", s.id),
            ));
        }
    }
    let mut seen_f = std::collections::HashSet::new();
    for f in flavours {
        if !valid_id(&f.id) {
            return Err(ConfigError::invalid(
                "flavours.id",
                format!("{:?}: use 1-32 characters of a-z, 0-9, '-' and '_'", f.id),
            ));
        }
        if !seen_f.insert(f.id.as_str()) {
            return Err(ConfigError::invalid("flavours.id", format!("{:?} appears twice", f.id)));
        }
        match kind {
            SpawnerChoice::Docker if f.image.trim().is_empty() => {
                return Err(ConfigError::invalid(
                    "flavours.image",
                    format!("flavour {:?} needs an image (spawner.kind = \"docker\")", f.id),
                ));
            }
            SpawnerChoice::Local => match f.environment.as_deref() {
                None | Some("") => {
                    return Err(ConfigError::invalid(
                        "flavours.environment",
                        format!("flavour {:?} needs an environment (spawner.kind = \"local\")", f.id),
                    ));
                }
                Some(env) if !env.starts_with('/') => {
                    return Err(ConfigError::invalid(
                        "flavours.environment",
                        format!("flavour {:?}: {env:?} must be an absolute path", f.id),
                    ));
                }
                Some(_) => {}
            },
            SpawnerChoice::Docker => {}
        }
        for key in f.env.keys() {
            let reserved = ["NVIDIA_", "CUDA_", "JUPYTERHUB_"].iter().any(|p| key.starts_with(p));
            if key.is_empty() || reserved || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ConfigError::invalid(
                    "flavours.env",
                    format!("flavour {:?}: {key:?} is not a variable it may set", f.id),
                ));
            }
        }
        if let Some(user) = &f.user {
            let ok = user.split(':').count() <= 2
                && user.split(':').all(|p| !p.is_empty() && p.parse::<u32>().is_ok());
            if !ok {
                return Err(ConfigError::invalid(
                    "flavours.user",
                    format!("flavour {:?}: {user:?} must be uid or uid:gid", f.id),
                ));
            }
        }
        if let Some(unknown) = f.sizes.iter().find(|s| !seen.contains(s.as_str())) {
            return Err(ConfigError::invalid(
                "flavours.sizes",
                format!("flavour {:?} names unknown size {unknown:?}", f.id),
            ));
        }
    }
    Ok(())
}
