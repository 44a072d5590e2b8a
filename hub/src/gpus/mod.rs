//! GPUs: the inventory (what the host has), the allocator (which free units fit a size) and the
//! ledger (who holds which unit, in the database). A unit is a whole GPU, or a MIG instance when
//! the GPU has MIG enabled; it is known by the UUID the NVIDIA runtime accepts.

pub mod allocate;
pub mod discover;
pub mod ledger;
pub mod limits;
pub mod meter;
mod nvml;
pub mod readings;
pub mod reserve;

use std::sync::{Arc, RwLock};

use serde::Serialize;

/// One allocatable unit: a GPU, or one MIG instance of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gpu {
    /// `GPU-…` or `MIG-…`: what `NVIDIA_VISIBLE_DEVICES` and `CUDA_VISIBLE_DEVICES` take.
    pub uuid: String,
    /// The device's index as the driver numbers it (for a MIG instance, its parent's).
    pub index: u32,
    pub model: String,
    pub memory_mib: u64,
    /// For a MIG instance: its profile (e.g. `1g.18gb`).
    pub mig_profile: Option<String>,
    /// Why the unit is out of the pool (it reports errors, or it vanished), if it is.
    pub fault: Option<String>,
}

impl Gpu {
    /// What holding this unit counts as for GPU-hours, in thousandths of a GPU: a whole GPU is
    /// 1000; a MIG instance counts its compute slices out of the GPU's seven (`1g.18gb` → 143,
    /// `3g.71gb` → 429, `7g.141gb` → 1000).
    pub fn share_milli(&self) -> i64 {
        let slices = self
            .mig_profile
            .as_deref()
            .and_then(|p| p.split_once('g'))
            .and_then(|(n, _)| n.parse::<i64>().ok());
        match slices {
            Some(n) if (1..7).contains(&n) => (n * 1000 + 3) / 7,
            _ => 1000,
        }
    }
}

/// Where an inventory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Nvml,
    NvidiaSmi,
    Static,
    /// No GPUs were found, or discovery is off.
    None,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Nvml => "nvml",
            Source::NvidiaSmi => "nvidia-smi",
            Source::Static => "static",
            Source::None => "none",
        }
    }
}

/// What the host has, as last read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub source: Source,
    pub units: Vec<Gpu>,
    /// Why the preferred sources were not used (e.g. "NVML: libnvidia-ml.so.1 not found").
    pub notes: Vec<String>,
}

impl Inventory {
    pub fn empty() -> Self {
        Inventory { source: Source::None, units: Vec::new(), notes: Vec::new() }
    }

    /// Units that may be handed out (no fault).
    pub fn healthy(&self) -> impl Iterator<Item = &Gpu> {
        self.units.iter().filter(|g| g.fault.is_none())
    }

    pub fn get(&self, uuid: &str) -> Option<&Gpu> {
        self.units.iter().find(|g| g.uuid == uuid)
    }
}

/// The hub's current inventory, shared by the request paths and refreshed by housekeeping.
#[derive(Debug, Clone)]
pub struct GpuPool {
    inner: Arc<RwLock<Inventory>>,
    readings: readings::Readings,
}

impl GpuPool {
    pub fn new(inventory: Inventory) -> Self {
        GpuPool { inner: Arc::new(RwLock::new(inventory)), readings: readings::Readings::default() }
    }

    /// The units' last live readings.
    pub fn readings(&self) -> &readings::Readings {
        &self.readings
    }

    /// A copy of the inventory as it is now.
    pub fn snapshot(&self) -> Inventory {
        match self.inner.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the inventory with a fresh reading. A unit that was known and is missing from
    /// the reading stays listed, with a fault saying it vanished, so its holder can be told.
    pub fn replace(&self, mut fresh: Inventory) {
        let mut guard = match self.inner.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for old in &guard.units {
            if fresh.get(&old.uuid).is_none() && fresh.source == guard.source {
                let mut gone = old.clone();
                gone.fault = Some("the device is no longer reported by the driver".into());
                fresh.units.push(gone);
            }
        }
        *guard = fresh;
    }
}

/// Reads the inventory again (off the async threads: it may run `nvidia-smi`) and applies it.
/// Housekeeping calls it every `servers.gpu_refresh_seconds`.
pub async fn refresh(hub: &crate::Hub) {
    let config = hub.config().clone();
    let Ok(fresh) = tokio::task::spawn_blocking(move || discover::discover(&config)).await else { return };
    if let Err(e) = apply(hub, fresh).await {
        tracing::warn!(error = %e, "flagging the holders of GPUs that left the pool failed");
    }
}

/// Takes a fresh sample of the units' utilization, memory and processes (NVML or `nvidia-smi`;
/// nothing for a static inventory). Housekeeping calls it every few seconds.
pub async fn sample(hub: &crate::Hub) {
    let source = hub.gpus().snapshot().source;
    if matches!(source, Source::Static | Source::None) {
        return;
    }
    match tokio::task::spawn_blocking(move || readings::sample(source)).await {
        Ok(Ok(fresh)) => hub.gpus().readings().replace(fresh),
        Ok(Err(why)) => tracing::debug!(%why, "sampling the GPUs failed"),
        Err(_) => {}
    }
}

/// Replaces the pool's inventory with a fresh reading. A unit that newly left the pool (it
/// vanished or reports errors) is logged, and the server holding it is flagged: its `last_error`
/// says which GPU and why (shown on the dashboard and the admin page), and the audit log gets a
/// `gpu.lost` row. The server keeps running; its owner decides.
pub async fn apply(hub: &crate::Hub, fresh: Inventory) -> Result<(), sqlx::Error> {
    let before = hub.gpus().snapshot();
    hub.gpus().replace(fresh);
    let lost: Vec<Gpu> = hub
        .gpus()
        .snapshot()
        .units
        .into_iter()
        .filter(|u| u.fault.is_some() && before.get(&u.uuid).is_none_or(|g| g.fault.is_none()))
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    let holdings = ledger::holdings(hub).await?;
    for unit in lost {
        let fault = unit.fault.clone().unwrap_or_default();
        tracing::warn!(gpu.uuid = %unit.uuid, %fault, "a GPU left the pool");
        let Some(holder) = holdings.iter().find(|h| h.uuid == unit.uuid) else { continue };
        let message = format!("GPU {} left the pool: {fault}", unit.uuid);
        let mut tx = hub.db().begin().await?;
        crate::db::servers::set_last_error(&mut tx, holder.server_id, &message).await?;
        let target = format!("{}/{}", holder.user, holder.server);
        let detail = serde_json::json!({ "uuid": unit.uuid, "reason": fault });
        crate::db::events::record(&mut *tx, None, "gpu.lost", Some(&target), detail).await?;
        tx.commit().await?;
    }
    Ok(())
}
