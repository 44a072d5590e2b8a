//! Reading the inventory: NVML, else `nvidia-smi`, else `[[gpus]]`. Nothing here changes a GPU
//! setting (MIG mode included): it only reads.

use std::process::Command;

use super::{Gpu, Inventory, Source};
use crate::config::{Config, GpuDiscovery};

/// Reads the inventory as configured. Never fails: a source that cannot be used is noted and the
/// next one tried; with none, the inventory is empty.
pub fn discover(config: &Config) -> Inventory {
    let mut notes = Vec::new();
    let from_static = || Inventory {
        source: Source::Static,
        units: config
            .gpus
            .iter()
            .enumerate()
            .map(|(i, g)| Gpu {
                uuid: g.uuid.trim().to_owned(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                model: g.model.clone(),
                memory_mib: g.memory_mib,
                mig_profile: g.mig_profile.clone(),
                fault: None,
            })
            .collect(),
        notes: Vec::new(),
    };
    let tried = match config.servers.gpu_discovery {
        GpuDiscovery::None => return Inventory::empty(),
        GpuDiscovery::Static => return from_static(),
        GpuDiscovery::Nvml => vec![Source::Nvml],
        GpuDiscovery::NvidiaSmi => vec![Source::NvidiaSmi],
        GpuDiscovery::Auto => vec![Source::Nvml, Source::NvidiaSmi],
    };
    for source in tried {
        let read = match source {
            Source::Nvml => super::nvml::read(),
            _ => nvidia_smi(),
        };
        match read {
            Ok(units) => return Inventory { source, units, notes },
            Err(why) => notes.push(format!("{}: {why}", source.as_str())),
        }
    }
    if config.servers.gpu_discovery == GpuDiscovery::Auto && !config.gpus.is_empty() {
        return Inventory { notes, ..from_static() };
    }
    Inventory { source: Source::None, units: Vec::new(), notes }
}

/// `nvidia-smi`: whole GPUs from `--query-gpu`, MIG instances from `-L`.
fn nvidia_smi() -> Result<Vec<Gpu>, String> {
    let query = run(&["--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"])?;
    let listing = run(&["-L"]).unwrap_or_default();
    parse_nvidia_smi(&query, &listing)
}

pub(super) fn run(args: &[&str]) -> Result<String, String> {
    let out =
        Command::new("nvidia-smi").args(args).output().map_err(|e| format!("cannot run nvidia-smi: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nvidia-smi {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses `--query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits` and `-L`. A GPU
/// with MIG instances contributes its instances (with the profile's memory), not itself.
pub(crate) fn parse_nvidia_smi(query: &str, listing: &str) -> Result<Vec<Gpu>, String> {
    let mut gpus = Vec::new();
    for line in query.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [index, uuid, name, memory] = fields[..] else {
            return Err(format!("unexpected nvidia-smi line {line:?}"));
        };
        let index = index.parse::<u32>().map_err(|_| format!("bad GPU index in {line:?}"))?;
        let memory_mib = memory.parse::<u64>().map_err(|_| format!("bad memory in {line:?}"))?;
        gpus.push(Gpu {
            uuid: uuid.to_owned(),
            index,
            model: name.to_owned(),
            memory_mib,
            mig_profile: None,
            fault: None,
        });
    }
    // `-L`: "GPU 0: NVIDIA A100 (UUID: GPU-…)" then "  MIG 1g.10gb     Device  0: (UUID: MIG-…)".
    let mut parent: Option<u32> = None;
    let mut instances: Vec<Gpu> = Vec::new();
    for line in listing.lines() {
        let trimmed = line.trim();
        let uuid = trimmed.rsplit_once("(UUID: ").and_then(|(_, rest)| rest.strip_suffix(')'));
        if let Some(rest) = trimmed.strip_prefix("GPU ") {
            parent = rest.split(':').next().and_then(|i| i.trim().parse().ok());
        } else if let (Some(rest), Some(uuid), Some(index)) = (trimmed.strip_prefix("MIG "), uuid, parent) {
            let profile = rest.split_whitespace().next().unwrap_or_default().to_owned();
            let Some(gpu) = gpus.iter().find(|g| g.index == index) else { continue };
            instances.push(Gpu {
                uuid: uuid.to_owned(),
                index,
                model: gpu.model.clone(),
                memory_mib: mig_memory_mib(&profile).unwrap_or(0),
                mig_profile: Some(profile),
                fault: None,
            });
        }
    }
    let split: std::collections::HashSet<u32> = instances.iter().map(|g| g.index).collect();
    gpus.retain(|g| !split.contains(&g.index));
    gpus.extend(instances);
    Ok(gpus)
}

/// The memory a MIG profile names (`1g.10gb` → 10240 MiB).
fn mig_memory_mib(profile: &str) -> Option<u64> {
    let gb = profile.split('.').nth(1)?.strip_suffix("gb")?;
    gb.parse::<u64>().ok().map(|g| g * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_output_gives_gpus_and_mig_instances() {
        let query = "0, GPU-aaaa, NVIDIA A100-SXM4-80GB, 81920\n1, GPU-bbbb, NVIDIA A100-SXM4-80GB, 81920\n";
        let listing = "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaa)\n\
                       GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-bbbb)\n  \
                       MIG 1g.10gb     Device  0: (UUID: MIG-1111)\n  \
                       MIG 3g.40gb     Device  1: (UUID: MIG-2222)\n";
        let gpus = parse_nvidia_smi(query, listing).unwrap();
        let units: Vec<(&str, Option<&str>, u64)> =
            gpus.iter().map(|g| (g.uuid.as_str(), g.mig_profile.as_deref(), g.memory_mib)).collect();
        assert_eq!(
            units,
            [
                ("GPU-aaaa", None, 81920),
                ("MIG-1111", Some("1g.10gb"), 10240),
                ("MIG-2222", Some("3g.40gb"), 40960)
            ]
        );
        assert!(parse_nvidia_smi("0, GPU-x, T4\n", "").is_err(), "a short line is an error");
        assert_eq!(parse_nvidia_smi("", "").unwrap(), Vec::new());
    }

    #[test]
    fn the_static_inventory_is_used_when_nothing_else_answers() {
        let mut config = Config::default();
        config.gpus = vec![crate::config::StaticGpu {
            uuid: "GPU-static-0".into(),
            model: "Test GPU".into(),
            memory_mib: 1024,
            mig_profile: None,
        }];
        config.servers.gpu_discovery = GpuDiscovery::Static;
        let inv = discover(&config);
        assert_eq!((inv.source, inv.units.len()), (Source::Static, 1));
        config.servers.gpu_discovery = GpuDiscovery::None;
        assert_eq!(discover(&config).units.len(), 0);
        // `auto`: NVML, else nvidia-smi, else the static inventory, with a note for each that failed.
        config.servers.gpu_discovery = GpuDiscovery::Auto;
        let inv = discover(&config);
        match (super::super::nvml::read().is_ok(), nvidia_smi().is_ok()) {
            (true, _) => assert_eq!(inv.source, Source::Nvml),
            (false, true) => assert_eq!(inv.source, Source::NvidiaSmi),
            (false, false) => {
                assert_eq!((inv.source, inv.units.len()), (Source::Static, 1), "{:?}", inv.notes);
                assert_eq!(inv.notes.len(), 2, "{:?}", inv.notes);
                assert!(
                    inv.notes[0].starts_with("nvml") && inv.notes[1].starts_with("nvidia-smi"),
                    "{:?}",
                    inv.notes
                );
            }
        }
    }
}
