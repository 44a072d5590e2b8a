//! `ganymede gpus [--json]`: the GPU inventory, where it came from, and who holds what.

use hub::config::Config;
use hub::Hub;

pub async fn run(config: Config, json: bool) -> anyhow::Result<()> {
    let hub = Hub::open(config).await?;
    let report = hub::gpus::ledger::report(&hub).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("GPU inventory from {} ({} unit(s))", report.source.as_str(), report.units.len());
    for note in &report.notes {
        println!("  note: {note}");
    }
    for unit in &report.units {
        let g = &unit.gpu;
        let kind = g.mig_profile.as_deref().map(|p| format!(" MIG {p}")).unwrap_or_default();
        let state = match (&g.fault, &unit.held_by) {
            (Some(fault), _) => format!("out of the pool: {fault}"),
            (None, Some(holder)) => format!("held by {holder}"),
            (None, None) => "free".to_owned(),
        };
        println!("  [{}] {} {}{kind}, {} MiB — {state}", g.index, g.uuid, g.model, g.memory_mib);
    }
    for uuid in &report.unknown_claims {
        println!("  claimed but not in the inventory: {uuid}");
    }
    Ok(())
}
