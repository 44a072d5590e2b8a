//! What people can launch: flavours (images) and sizes (resources), from config, checked again on
//! every request so a forged form cannot start something the hub does not offer.

use crate::config::{Config, FlavourConfig, SizeConfig};

/// A validated choice of flavour and size.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub flavour: FlavourConfig,
    pub size: SizeConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    #[error("there is no flavour {0:?}")]
    UnknownFlavour(String),
    #[error("there is no size {0:?}")]
    UnknownSize(String),
    #[error("the {flavour} flavour cannot run with size {size}")]
    SizeNotAllowed { flavour: String, size: String },
    #[error("size {size} needs {needed} GPU(s) but this hub has {available}")]
    NotEnoughGpus { size: String, needed: u32, available: u32 },
}

/// Sizes a flavour may use on this hub (GPU sizes only when the hub has enough GPUs).
pub fn sizes_for<'a>(config: &'a Config, flavour: &FlavourConfig) -> Vec<&'a SizeConfig> {
    config
        .sizes
        .iter()
        .filter(|s| flavour.sizes.is_empty() || flavour.sizes.contains(&s.id))
        .filter(|s| s.gpus <= config.servers.gpus)
        .collect()
}

/// The flavour and size a start uses when the request names neither: the first flavour and the
/// first size it may use.
pub fn default_choice(config: &Config) -> Option<(String, String)> {
    let flavour = config.flavours.first()?;
    let size = sizes_for(config, flavour).first()?.id.clone();
    Some((flavour.id.clone(), size))
}

pub fn resolve(config: &Config, flavour: &str, size: &str) -> Result<Launch, LaunchError> {
    let f = config
        .flavours
        .iter()
        .find(|f| f.id == flavour)
        .ok_or_else(|| LaunchError::UnknownFlavour(flavour.to_owned()))?;
    let s = config
        .sizes
        .iter()
        .find(|s| s.id == size)
        .ok_or_else(|| LaunchError::UnknownSize(size.to_owned()))?;
    if !f.sizes.is_empty() && !f.sizes.contains(&s.id) {
        return Err(LaunchError::SizeNotAllowed { flavour: f.id.clone(), size: s.id.clone() });
    }
    if s.gpus > config.servers.gpus {
        return Err(LaunchError::NotEnoughGpus {
            size: s.id.clone(),
            needed: s.gpus,
            available: config.servers.gpus,
        });
    }
    Ok(Launch { flavour: f.clone(), size: s.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_launch_base_small() {
        let launch = resolve(&Config::default(), "base", "small").unwrap();
        assert_eq!(launch.flavour.image, "ganymede/base:latest");
        assert_eq!(launch.size.memory_mib, 2048);
    }

    #[test]
    fn unknown_choices_are_refused() {
        let c = Config::default();
        assert_eq!(resolve(&c, "cobol", "small"), Err(LaunchError::UnknownFlavour("cobol".into())));
        assert_eq!(resolve(&c, "base", "huge"), Err(LaunchError::UnknownSize("huge".into())));
    }

    #[test]
    fn gpu_sizes_need_gpus() {
        let mut c = Config::default();
        assert!(matches!(
            resolve(&c, "base", "gpu-1"),
            Err(LaunchError::NotEnoughGpus { needed: 1, available: 0, .. })
        ));
        assert!(sizes_for(&c, &c.flavours[0]).iter().all(|s| s.gpus == 0));
        c.servers.gpus = 1;
        assert!(resolve(&c, "base", "gpu-1").is_ok());
        assert!(resolve(&c, "base", "gpu-2").is_err());
        assert_eq!(sizes_for(&c, &c.flavours[0]).len(), 3);
    }

    #[test]
    fn flavours_can_restrict_sizes() {
        let mut c = Config::default();
        c.flavours[0].sizes = vec!["small".into()];
        assert!(matches!(resolve(&c, "base", "medium"), Err(LaunchError::SizeNotAllowed { .. })));
        assert_eq!(sizes_for(&c, &c.flavours[0]).len(), 1);
    }
}
