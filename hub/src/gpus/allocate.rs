//! Which free units fit a size: pure, so the arithmetic is unit-tested without a database.

use std::collections::HashSet;

use super::{Gpu, Inventory};
use crate::config::SizeConfig;

/// What a size asks of the GPUs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpuRequest {
    pub count: u32,
    pub model: Option<String>,
    pub min_memory_mib: Option<u64>,
    pub mig_profile: Option<String>,
}

impl GpuRequest {
    pub fn of(size: &SizeConfig) -> Self {
        GpuRequest {
            count: size.gpus,
            model: size.gpu_model.clone(),
            min_memory_mib: size.gpu_min_memory_mib,
            mig_profile: size.mig_profile.clone(),
        }
    }

    /// Whether one unit is of the kind asked for (free or not).
    pub fn accepts(&self, gpu: &Gpu) -> bool {
        let model_ok = self
            .model
            .as_deref()
            .is_none_or(|m| gpu.model.to_ascii_lowercase().contains(&m.to_ascii_lowercase()));
        let memory_ok = self.min_memory_mib.is_none_or(|m| gpu.memory_mib >= m);
        // A size names a MIG profile to get instances of it; without one it gets whole GPUs.
        let mig_ok = match (&self.mig_profile, &gpu.mig_profile) {
            (Some(want), Some(has)) => want == has,
            (None, None) => true,
            _ => false,
        };
        model_ok && memory_ok && mig_ok
    }
}

/// How the inventory stands for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    /// Healthy units of the kind asked for.
    pub suitable: u32,
    /// Of those, how many nobody holds.
    pub free: u32,
}

impl Availability {
    /// Whether the request could ever be met on this inventory.
    pub fn can_ever_fit(&self, request: &GpuRequest) -> bool {
        self.suitable >= request.count
    }
}

pub fn availability(inventory: &Inventory, held: &HashSet<String>, request: &GpuRequest) -> Availability {
    let suitable: Vec<&Gpu> = inventory.healthy().filter(|g| request.accepts(g)).collect();
    let free = suitable.iter().filter(|g| !held.contains(&g.uuid)).count();
    Availability { suitable: count(suitable.len()), free: count(free) }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The units to hand out for `request`, or `None` when not enough are free. Free suitable units
/// are taken in driver order (lowest index first), so allocations are predictable and a
/// multi-GPU server tends to get neighbouring devices.
pub fn choose<'a>(
    inventory: &'a Inventory,
    held: &HashSet<String>,
    request: &GpuRequest,
) -> Option<Vec<&'a Gpu>> {
    if request.count == 0 {
        return Some(Vec::new());
    }
    let mut free: Vec<&Gpu> =
        inventory.healthy().filter(|g| request.accepts(g) && !held.contains(&g.uuid)).collect();
    free.sort_by(|a, b| (a.index, &a.uuid).cmp(&(b.index, &b.uuid)));
    let wanted = usize::try_from(request.count).ok()?;
    (free.len() >= wanted).then(|| free.into_iter().take(wanted).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpus::Source;

    fn gpu(i: u32, model: &str, memory_mib: u64, mig: Option<&str>) -> Gpu {
        Gpu {
            uuid: format!("GPU-{i:04}"),
            index: i,
            model: model.into(),
            memory_mib,
            mig_profile: mig.map(str::to_owned),
            fault: None,
        }
    }

    fn inventory(units: Vec<Gpu>) -> Inventory {
        Inventory { source: Source::Static, units, notes: Vec::new() }
    }

    fn req(count: u32) -> GpuRequest {
        GpuRequest { count, ..GpuRequest::default() }
    }

    #[test]
    fn free_units_are_taken_lowest_index_first_and_never_a_held_one() {
        let inv = inventory((0..4).map(|i| gpu(i, "NVIDIA A100", 81920, None)).collect());
        let held: HashSet<String> = ["GPU-0000".to_owned(), "GPU-0002".to_owned()].into();
        let got: Vec<&str> = choose(&inv, &held, &req(2)).unwrap().iter().map(|g| g.uuid.as_str()).collect();
        assert_eq!(got, ["GPU-0001", "GPU-0003"]);
        assert_eq!(choose(&inv, &held, &req(3)), None);
        assert_eq!(availability(&inv, &held, &req(1)), Availability { suitable: 4, free: 2 });
        assert_eq!(choose(&inv, &held, &req(0)), Some(Vec::new()));
    }

    #[test]
    fn model_memory_and_mig_profile_narrow_what_fits() {
        let mut units = vec![
            gpu(0, "NVIDIA A100-SXM4-80GB", 81920, None),
            gpu(1, "Tesla T4", 15360, None),
            gpu(2, "NVIDIA A100-SXM4-80GB", 9728, Some("1g.10gb")),
        ];
        units[2].uuid = "MIG-aaaa".into();
        let inv = inventory(units);
        let none = HashSet::new();
        let a100 = GpuRequest { count: 1, model: Some("a100".into()), ..GpuRequest::default() };
        assert_eq!(choose(&inv, &none, &a100).unwrap()[0].uuid, "GPU-0000");
        let big = GpuRequest { count: 2, min_memory_mib: Some(16000), ..GpuRequest::default() };
        assert!(!availability(&inv, &none, &big).can_ever_fit(&big), "only one whole GPU has 16 GB");
        let slice = GpuRequest { count: 1, mig_profile: Some("1g.10gb".into()), ..GpuRequest::default() };
        assert_eq!(choose(&inv, &none, &slice).unwrap()[0].uuid, "MIG-aaaa");
        // Whole-GPU sizes never get a MIG instance.
        assert_eq!(availability(&inv, &none, &req(1)).suitable, 2);
    }

    #[test]
    fn a_faulty_unit_is_never_handed_out() {
        let mut units: Vec<Gpu> = (0..2).map(|i| gpu(i, "T4", 15360, None)).collect();
        units[0].fault = Some("Xid 79".into());
        let inv = inventory(units);
        let got = choose(&inv, &HashSet::new(), &req(1)).unwrap();
        assert_eq!(got[0].uuid, "GPU-0001");
        assert_eq!(choose(&inv, &HashSet::new(), &req(2)), None);
    }

    /// Many random claim/release sequences: no unit is ever held twice and counts add up.
    #[test]
    fn random_claims_and_releases_never_hold_a_unit_twice() {
        let inv = inventory((0..8).map(|i| gpu(i, "A100", 40960, None)).collect());
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut holders: Vec<Vec<String>> = Vec::new();
        for _ in 0..5000 {
            let held: HashSet<String> = holders.iter().flatten().cloned().collect();
            assert_eq!(held.len(), holders.iter().map(Vec::len).sum::<usize>(), "a unit is held twice");
            if next() % 3 == 0 && !holders.is_empty() {
                let i = usize::try_from(next() % holders.len() as u64).unwrap();
                holders.swap_remove(i);
            } else {
                let want = u32::try_from(next() % 3 + 1).unwrap();
                let free = availability(&inv, &held, &req(want)).free;
                match choose(&inv, &held, &req(want)) {
                    Some(units) => {
                        assert!(free >= want);
                        holders.push(units.iter().map(|g| g.uuid.clone()).collect());
                    }
                    None => assert!(free < want),
                }
            }
        }
    }
}
