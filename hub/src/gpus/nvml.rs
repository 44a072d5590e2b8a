//! NVML through `nvml-wrapper`, which opens `libnvidia-ml.so.1` at run time: on a machine without
//! the driver this is an error to note, never a failure to build or start.

use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::Gpu;

/// Every GPU, or its MIG instances when MIG is enabled on it. A GPU NVML cannot read stays in the
/// list with a fault (it leaves the pool; admins see why).
pub fn read() -> Result<Vec<Gpu>, String> {
    let nvml = Nvml::init().map_err(|e| format!("cannot load NVML ({e})"))?;
    let count = nvml.device_count().map_err(|e| format!("cannot count devices ({e})"))?;
    let mut units = Vec::new();
    for index in 0..count {
        let device = match nvml.device_by_index(index) {
            Ok(device) => device,
            Err(e) => {
                units.push(faulty(index, format!("GPU-index-{index}"), &e));
                continue;
            }
        };
        let uuid = device.uuid().unwrap_or_else(|_| format!("GPU-index-{index}"));
        let (model, memory) = match (device.name(), device.memory_info()) {
            (Ok(model), Ok(memory)) => (model, memory.total / (1024 * 1024)),
            (Err(e), _) | (_, Err(e)) => {
                units.push(faulty(index, uuid, &e));
                continue;
            }
        };
        let mig_enabled = device.mig_mode().map(|m| m.current == 1).unwrap_or(false);
        if !mig_enabled {
            units.push(Gpu { uuid, index, model, memory_mib: memory, mig_profile: None, fault: None });
            continue;
        }
        let slots = device.mig_device_count().unwrap_or(0);
        for slot in 0..slots {
            // Unused slots answer NotFound: only created instances are units.
            let Ok(instance) = device.mig_device_by_index(slot) else { continue };
            let (Ok(mig_uuid), Ok(name), Ok(mem)) =
                (instance.uuid(), instance.name(), instance.memory_info())
            else {
                continue;
            };
            units.push(Gpu {
                uuid: mig_uuid,
                index,
                model: model.clone(),
                memory_mib: mem.total / (1024 * 1024),
                mig_profile: Some(mig_profile(&name)),
                fault: None,
            });
        }
    }
    Ok(units)
}

/// Utilization, memory in use and compute processes of every unit (MIG instances: processes and
/// memory; NVML gives no per-instance utilization).
pub fn sample() -> Result<Vec<super::readings::Reading>, String> {
    use super::readings::Reading;
    let nvml = Nvml::init().map_err(|e| format!("cannot load NVML ({e})"))?;
    let count = nvml.device_count().map_err(|e| format!("cannot count devices ({e})"))?;
    let mut out = Vec::new();
    for index in 0..count {
        let Ok(device) = nvml.device_by_index(index) else { continue };
        let mig_enabled = device.mig_mode().map(|m| m.current == 1).unwrap_or(false);
        if !mig_enabled {
            let Ok(uuid) = device.uuid() else { continue };
            out.push(Reading {
                uuid,
                utilization_percent: device.utilization_rates().ok().map(|u| u.gpu),
                memory_used_mib: device.memory_info().ok().map(|m| m.used / (1024 * 1024)),
                processes: device
                    .running_compute_processes()
                    .ok()
                    .map(|p| u32::try_from(p.len()).unwrap_or(u32::MAX)),
            });
            continue;
        }
        for slot in 0..device.mig_device_count().unwrap_or(0) {
            let Ok(instance) = device.mig_device_by_index(slot) else { continue };
            let Ok(uuid) = instance.uuid() else { continue };
            out.push(Reading {
                uuid,
                utilization_percent: None,
                memory_used_mib: instance.memory_info().ok().map(|m| m.used / (1024 * 1024)),
                processes: instance
                    .running_compute_processes()
                    .ok()
                    .map(|p| u32::try_from(p.len()).unwrap_or(u32::MAX)),
            });
        }
    }
    Ok(out)
}

fn faulty(index: u32, uuid: String, e: &NvmlError) -> Gpu {
    Gpu {
        uuid,
        index,
        model: String::new(),
        memory_mib: 0,
        mig_profile: None,
        fault: Some(format!("NVML cannot read this GPU: {e}")),
    }
}

/// `NVIDIA A100-SXM4-40GB MIG 1g.5gb` → `1g.5gb`.
fn mig_profile(name: &str) -> String {
    name.rsplit_once("MIG ").map(|(_, p)| p.trim().to_owned()).unwrap_or_else(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mig_profile_is_read_from_the_instance_name() {
        assert_eq!(super::mig_profile("NVIDIA A100-SXM4-40GB MIG 1g.5gb"), "1g.5gb");
        assert_eq!(super::mig_profile("NVIDIA H100 80GB HBM3 MIG 3g.40gb"), "3g.40gb");
    }

    #[test]
    fn without_the_driver_nvml_is_an_error_not_a_crash() {
        // This machine has no libnvidia-ml.so.1; on a GPU machine it reads the devices.
        if std::path::Path::new("/dev/nvidiactl").exists() {
            assert!(super::read().is_ok());
        } else {
            assert!(super::read().is_err());
        }
    }
}
