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
    #[error("this hub offers no flavours")]
    NoFlavours,
}

/// Sizes this hub offers at all (GPU sizes only when the hub has enough GPUs).
pub fn offered_sizes(config: &Config) -> impl Iterator<Item = &SizeConfig> {
    config.sizes.iter().filter(|s| s.gpus <= config.servers.gpus)
}

/// Sizes a flavour may use on this hub (GPU sizes only when the hub has enough GPUs).
pub fn sizes_for<'a>(config: &'a Config, flavour: &FlavourConfig) -> Vec<&'a SizeConfig> {
    offered_sizes(config).filter(|s| flavour.sizes.is_empty() || flavour.sizes.contains(&s.id)).collect()
}

/// The flavour and size a start uses when the request names neither: the first flavour and the
/// first size it may use.
pub fn default_choice(config: &Config) -> Option<(String, String)> {
    let flavour = config.flavours.first()?;
    let size = sizes_for(config, flavour).first()?.id.clone();
    Some((flavour.id.clone(), size))
}

/// What a start asks for: either part may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    pub flavour: Option<String>,
    pub size: Option<String>,
}

impl Requested {
    pub fn both(flavour: &str, size: &str) -> Self {
        Requested { flavour: Some(flavour.to_owned()), size: Some(size.to_owned()) }
    }
}

/// The flavour and size a start uses, for every edge alike: what the request names; for what it
/// leaves out, the server's remembered choice (its last start, or how it was created), else the
/// hub's default. A size left out with a flavour named is that flavour's remembered size when the
/// flavour is the remembered one, else its first size. The result is checked by [`resolve`].
pub fn choose(
    config: &Config,
    requested: Requested,
    remembered: Option<(String, String)>,
) -> Result<(String, String), LaunchError> {
    let fallback = || remembered.clone().or_else(|| default_choice(config)).ok_or(LaunchError::NoFlavours);
    match (requested.flavour, requested.size) {
        (Some(flavour), Some(size)) => Ok((flavour, size)),
        (None, size) => {
            let (flavour, remembered_size) = fallback()?;
            Ok((flavour, size.unwrap_or(remembered_size)))
        }
        (Some(flavour), None) => {
            if let Some((f, s)) = &remembered {
                if *f == flavour {
                    return Ok((flavour, s.clone()));
                }
            }
            let f = config
                .flavours
                .iter()
                .find(|f| f.id == flavour)
                .ok_or_else(|| LaunchError::UnknownFlavour(flavour.clone()))?;
            let size = sizes_for(config, f).first().map(|s| s.id.clone()).ok_or_else(|| {
                LaunchError::SizeNotAllowed { flavour: flavour.clone(), size: "(any)".into() }
            })?;
            Ok((flavour, size))
        }
    }
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

impl crate::error::Classify for LaunchError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(flavour: Option<&str>, size: Option<&str>) -> Requested {
        Requested { flavour: flavour.map(str::to_owned), size: size.map(str::to_owned) }
    }

    #[test]
    fn a_choice_fills_what_the_request_leaves_out() {
        let config = Config::default();
        let (first_flavour, first_size) = default_choice(&config).unwrap();
        let remembered = Some(("scipy".to_owned(), "medium".to_owned()));
        let pair = |f: &str, s: &str| (f.to_owned(), s.to_owned());
        // Nothing asked: the remembered choice, else the default.
        assert_eq!(choose(&config, req(None, None), remembered.clone()).unwrap(), pair("scipy", "medium"));
        assert_eq!(
            choose(&config, req(None, None), None).unwrap(),
            (first_flavour.clone(), first_size.clone())
        );
        // A size alone keeps the remembered (or default) flavour.
        assert_eq!(
            choose(&config, req(None, Some("small")), remembered.clone()).unwrap(),
            pair("scipy", "small")
        );
        assert_eq!(choose(&config, req(None, Some("medium")), None).unwrap(), pair(&first_flavour, "medium"));
        // A flavour alone: its remembered size if it is the remembered flavour, else its first size.
        assert_eq!(
            choose(&config, req(Some("scipy"), None), remembered.clone()).unwrap(),
            pair("scipy", "medium")
        );
        assert_eq!(
            choose(&config, req(Some(&first_flavour), None), remembered).unwrap(),
            pair(&first_flavour, &first_size)
        );
        assert_eq!(
            choose(&config, req(Some("nope"), None), None).unwrap_err(),
            LaunchError::UnknownFlavour("nope".into())
        );
        let empty = Config { flavours: Vec::new(), ..Config::default() };
        assert_eq!(choose(&empty, req(None, None), None).unwrap_err(), LaunchError::NoFlavours);
    }

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
