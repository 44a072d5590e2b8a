//! What people can launch: flavours (images) and sizes (resources), from config, checked again on
//! every request so a forged form cannot start something the hub does not offer.

use crate::config::{Config, FlavourConfig, SizeConfig};
use crate::gpus::allocate::{availability, GpuRequest};
use crate::gpus::Inventory;

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
    #[error("size {size} needs {needed} GPU(s) of its kind but this hub has {available}")]
    NotEnoughGpus { size: String, needed: u32, available: u32 },
    #[error("this hub offers no flavours")]
    NoFlavours,
    #[error("the {0} flavour has no size this hub can run")]
    NoSizeFor(String),
}

/// Sizes this hub offers at all: GPU sizes only when the inventory has enough GPUs of their kind
/// (busy or free).
pub fn offered_sizes<'a>(config: &'a Config, gpus: &'a Inventory) -> impl Iterator<Item = &'a SizeConfig> {
    config.sizes.iter().filter(move |s| suitable_gpus(gpus, s) >= s.gpus)
}

/// Healthy GPUs of the kind a size asks for, held or not.
pub fn suitable_gpus(gpus: &Inventory, size: &SizeConfig) -> u32 {
    if size.gpus == 0 {
        return 0;
    }
    availability(gpus, &std::collections::HashSet::new(), &GpuRequest::of(size)).suitable
}

/// Sizes a flavour may use on this hub (GPU sizes only when the hub has enough GPUs).
pub fn sizes_for<'a>(
    config: &'a Config,
    gpus: &'a Inventory,
    flavour: &FlavourConfig,
) -> Vec<&'a SizeConfig> {
    offered_sizes(config, gpus)
        .filter(|s| flavour.sizes.is_empty() || flavour.sizes.contains(&s.id))
        .collect()
}

/// The flavour and size a start uses when the request names neither: the first flavour and the
/// first size it may use.
pub fn default_choice(config: &Config, gpus: &Inventory) -> Option<(String, String)> {
    let flavour = config.flavours.first()?;
    let size = sizes_for(config, gpus, flavour).first()?.id.clone();
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
    gpus: &Inventory,
    requested: Requested,
    remembered: Option<(String, String)>,
) -> Result<(String, String), LaunchError> {
    let fallback =
        || remembered.clone().or_else(|| default_choice(config, gpus)).ok_or(LaunchError::NoFlavours);
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
            let size = sizes_for(config, gpus, f)
                .first()
                .map(|s| s.id.clone())
                .ok_or_else(|| LaunchError::NoSizeFor(flavour.clone()))?;
            Ok((flavour, size))
        }
    }
}

pub fn resolve(config: &Config, gpus: &Inventory, flavour: &str, size: &str) -> Result<Launch, LaunchError> {
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
    let available = suitable_gpus(gpus, s);
    if s.gpus > available {
        return Err(LaunchError::NotEnoughGpus { size: s.id.clone(), needed: s.gpus, available });
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

    fn none() -> Inventory {
        Inventory::empty()
    }

    fn one_gpu() -> Inventory {
        let gpu = crate::gpus::Gpu {
            uuid: "GPU-0".into(),
            index: 0,
            model: "Test".into(),
            memory_mib: 1024,
            mig_profile: None,
            fault: None,
        };
        Inventory { source: crate::gpus::Source::Static, units: vec![gpu], notes: Vec::new() }
    }

    fn req(flavour: Option<&str>, size: Option<&str>) -> Requested {
        Requested { flavour: flavour.map(str::to_owned), size: size.map(str::to_owned) }
    }

    #[test]
    fn a_choice_fills_what_the_request_leaves_out() {
        let config = Config::default();
        let (first_flavour, first_size) = default_choice(&config, &none()).unwrap();
        let remembered = Some(("scipy".to_owned(), "medium".to_owned()));
        let pair = |f: &str, s: &str| (f.to_owned(), s.to_owned());
        // Nothing asked: the remembered choice, else the default.
        assert_eq!(
            choose(&config, &none(), req(None, None), remembered.clone()).unwrap(),
            pair("scipy", "medium")
        );
        assert_eq!(
            choose(&config, &none(), req(None, None), None).unwrap(),
            (first_flavour.clone(), first_size.clone())
        );
        // A size alone keeps the remembered (or default) flavour.
        assert_eq!(
            choose(&config, &none(), req(None, Some("small")), remembered.clone()).unwrap(),
            pair("scipy", "small")
        );
        assert_eq!(
            choose(&config, &none(), req(None, Some("medium")), None).unwrap(),
            pair(&first_flavour, "medium")
        );
        // A flavour alone: its remembered size if it is the remembered flavour, else its first size.
        assert_eq!(
            choose(&config, &none(), req(Some("scipy"), None), remembered.clone()).unwrap(),
            pair("scipy", "medium")
        );
        assert_eq!(
            choose(&config, &none(), req(Some(&first_flavour), None), remembered).unwrap(),
            pair(&first_flavour, &first_size)
        );
        assert_eq!(
            choose(&config, &none(), req(Some("nope"), None), None).unwrap_err(),
            LaunchError::UnknownFlavour("nope".into())
        );
        let empty = Config { flavours: Vec::new(), ..Config::default() };
        assert_eq!(choose(&empty, &none(), req(None, None), None).unwrap_err(), LaunchError::NoFlavours);
    }

    #[test]
    fn defaults_launch_base_small() {
        let launch = resolve(&Config::default(), &none(), "base", "small").unwrap();
        assert_eq!(launch.flavour.image, "ganymede/base:latest");
        assert_eq!(launch.size.memory_mib, 2048);
    }

    #[test]
    fn unknown_choices_are_refused() {
        let c = Config::default();
        let gpus = none();
        assert_eq!(resolve(&c, &gpus, "cobol", "small"), Err(LaunchError::UnknownFlavour("cobol".into())));
        assert_eq!(resolve(&c, &gpus, "base", "huge"), Err(LaunchError::UnknownSize("huge".into())));
    }

    #[test]
    fn gpu_sizes_need_gpus() {
        let c = Config::default();
        let gpus = none();
        assert!(matches!(
            resolve(&c, &gpus, "base", "gpu-1"),
            Err(LaunchError::NotEnoughGpus { needed: 1, available: 0, .. })
        ));
        assert!(sizes_for(&c, &gpus, &c.flavours[0]).iter().all(|s| s.gpus == 0));
        let gpus = one_gpu();
        assert!(resolve(&c, &gpus, "base", "gpu-1").is_ok());
        assert!(resolve(&c, &gpus, "base", "gpu-2").is_err());
        assert_eq!(sizes_for(&c, &gpus, &c.flavours[0]).len(), 3);
    }

    #[test]
    fn flavours_can_restrict_sizes() {
        let mut c = Config::default();
        c.flavours[0].sizes = vec!["small".into()];
        let gpus = none();
        assert!(matches!(resolve(&c, &gpus, "base", "medium"), Err(LaunchError::SizeNotAllowed { .. })));
        assert_eq!(sizes_for(&c, &gpus, &c.flavours[0]).len(), 1);
    }
}
