//! The ledger as the lifecycle uses it: inside a start's transaction (under the fleet lock),
//! choose free units that fit the size and record them; every transition into `stopped`
//! releases them.

pub use crate::db::gpu_claims::Holding;

use super::allocate::{self, GpuRequest};
use super::Inventory;
use crate::config::SizeConfig;
use crate::db::{gpu_claims, DbConn};
use crate::Hub;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// These units are the server's now (none for a size without GPUs).
    Claimed(Vec<String>),
    /// Not enough suitable units are free right now.
    NoneFree,
}

pub async fn claim(
    conn: &mut DbConn,
    inventory: &Inventory,
    server_id: i64,
    size: &SizeConfig,
    now: i64,
) -> Result<Claim, sqlx::Error> {
    if size.gpus == 0 {
        return Ok(Claim::Claimed(Vec::new()));
    }
    let request = GpuRequest::of(size);
    let held = gpu_claims::held(conn).await?;
    let Some(units) = allocate::choose(inventory, &held, &request) else { return Ok(Claim::NoneFree) };
    let uuids: Vec<String> = units.iter().map(|g| g.uuid.clone()).collect();
    gpu_claims::claim(conn, server_id, &uuids, now).await?;
    Ok(Claim::Claimed(uuids))
}

pub async fn release(conn: &mut DbConn, server_id: i64) -> Result<u64, sqlx::Error> {
    gpu_claims::release(conn, server_id).await
}

/// Who holds what, for `ganymede gpus` and the admin page.
pub async fn holdings(hub: &Hub) -> Result<Vec<Holding>, sqlx::Error> {
    gpu_claims::holdings(hub.db()).await
}

/// The units one server holds.
pub async fn of_server(hub: &Hub, server_id: i64) -> Result<Vec<String>, sqlx::Error> {
    gpu_claims::of_server(hub.db(), server_id).await
}

/// How many units of a size's kind exist and are free now (for the launch form: "3 of 8 free").
pub async fn availability(hub: &Hub, size: &SizeConfig) -> Result<allocate::Availability, sqlx::Error> {
    let mut conn = hub.db().acquire().await?;
    let held = gpu_claims::held(&mut conn).await?;
    Ok(allocate::availability(&hub.gpus().snapshot(), &held, &GpuRequest::of(size)))
}

/// One unit with its holder, as `ganymede gpus` and the admin page show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnitReport {
    #[serde(flatten)]
    pub gpu: super::Gpu,
    /// `user/server` holding it, if anyone does.
    pub held_by: Option<String>,
    pub held_since_ms: Option<i64>,
}

/// The inventory, where it came from, and who holds what.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub source: super::Source,
    pub notes: Vec<String>,
    pub units: Vec<UnitReport>,
    /// Claims naming a UUID the inventory does not know (a GPU that left the pool).
    pub unknown_claims: Vec<String>,
}

pub async fn report(hub: &Hub) -> Result<Report, sqlx::Error> {
    let inventory = hub.gpus().snapshot();
    let holdings = holdings(hub).await?;
    let holder = |uuid: &str| holdings.iter().find(|h| h.uuid == uuid);
    let units = inventory
        .units
        .iter()
        .map(|g| UnitReport {
            gpu: g.clone(),
            held_by: holder(&g.uuid).map(|h| format!("{}/{}", h.user, h.server)),
            held_since_ms: holder(&g.uuid).map(|h| h.claimed_at),
        })
        .collect();
    let unknown_claims =
        holdings.iter().filter(|h| inventory.get(&h.uuid).is_none()).map(|h| h.uuid.clone()).collect();
    Ok(Report { source: inventory.source, notes: inventory.notes, units, unknown_claims })
}
