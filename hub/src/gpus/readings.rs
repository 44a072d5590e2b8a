//! Live GPU readings: utilization, memory in use and compute processes per unit, from NVML or
//! `nvidia-smi` (a static inventory has none). A unit belongs to one server at a time (the
//! ledger), so a unit's processes and utilization are its holder's: that is how the readings map
//! to workloads. Readings are a cache of the last sample (the next one replaces them), never
//! state: what outlives a restart (since when a session's GPUs are idle) is in the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::Source;

/// One unit's last reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub uuid: String,
    /// Percent of the time a kernel ran over the driver's last sample period (`None` where the
    /// driver does not say, as for MIG instances).
    pub utilization_percent: Option<u32>,
    pub memory_used_mib: Option<u64>,
    /// Compute processes on the unit (`None` when they cannot be listed).
    pub processes: Option<u32>,
}

impl Reading {
    /// Idle: no compute process and (where known) utilization at or below `threshold`. Unknown
    /// process counts are never idle, so a unit that cannot be read is never reclaimed.
    pub fn is_idle(&self, threshold: u32) -> bool {
        self.processes == Some(0) && self.utilization_percent.is_none_or(|u| u <= threshold)
    }
}

/// The last sample, shared like the inventory.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    inner: Arc<RwLock<HashMap<String, Reading>>>,
}

impl Readings {
    pub fn replace(&self, readings: Vec<Reading>) {
        let map = readings.into_iter().map(|r| (r.uuid.clone(), r)).collect();
        match self.inner.write() {
            Ok(mut guard) => *guard = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
    }

    pub fn get(&self, uuid: &str) -> Option<Reading> {
        match self.inner.read() {
            Ok(guard) => guard.get(uuid).cloned(),
            Err(poisoned) => poisoned.into_inner().get(uuid).cloned(),
        }
    }
}

/// Reads every unit from the inventory's source (blocking: run it off the async threads).
pub fn sample(source: Source) -> Result<Vec<Reading>, String> {
    match source {
        Source::Nvml => super::nvml::sample(),
        Source::NvidiaSmi => {
            let gpus = super::discover::run(&[
                "--query-gpu=uuid,utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
            ])?;
            let apps =
                super::discover::run(&["--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader,nounits"])
                    .unwrap_or_default();
            Ok(parse_nvidia_smi(&gpus, &apps))
        }
        Source::Static | Source::None => Ok(Vec::new()),
    }
}

/// Parses `--query-gpu=uuid,utilization.gpu,memory.used` and `--query-compute-apps=gpu_uuid,pid`.
/// `[N/A]` and other non-numbers read as unknown.
pub(crate) fn parse_nvidia_smi(gpus: &str, apps: &str) -> Vec<Reading> {
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for line in apps.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some((uuid, _pid)) = line.split_once(',') {
            *counts.entry(uuid.trim()).or_default() += 1;
        }
    }
    gpus.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [uuid, util, mem] = fields[..] else { return None };
            Some(Reading {
                uuid: uuid.to_owned(),
                utilization_percent: util.parse().ok(),
                memory_used_mib: mem.parse().ok(),
                processes: Some(counts.get(uuid).copied().unwrap_or(0)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_readings_count_each_units_processes() {
        let gpus = "GPU-aaaa, 87, 30210\nGPU-bbbb, 0, 3\nGPU-cccc, [N/A], [N/A]\n";
        let apps = "GPU-aaaa, 4242\nGPU-aaaa, 4343\n";
        let r = parse_nvidia_smi(gpus, apps);
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].utilization_percent, r[0].memory_used_mib, r[0].processes),
            (Some(87), Some(30210), Some(2))
        );
        assert!(r[1].is_idle(2) && !r[0].is_idle(2));
        assert_eq!((r[2].utilization_percent, r[2].processes), (None, Some(0)));
        let unknown = Reading {
            uuid: "x".into(),
            utilization_percent: Some(0),
            memory_used_mib: None,
            processes: None,
        };
        assert!(!unknown.is_idle(2), "a unit whose processes cannot be listed is never idle");
    }
}
