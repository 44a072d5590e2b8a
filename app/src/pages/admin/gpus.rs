//! `/hub/admin/gpus`: the GPU inventory (where it came from, each unit, who holds it, why a unit
//! is out of the pool) and the queue, whose entries an admin can remove.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::actions::ActionState;
use super::users::server_action;
use super::AdminTabs;
use crate::components::form_message::FormMessage;
use crate::components::live_usage::LiveView;
use crate::error::AppError;
use crate::ids;
use crate::time::format_ms;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuUnitView {
    pub index: u32,
    pub uuid: String,
    pub model: String,
    pub memory_mib: u64,
    pub mig_profile: Option<String>,
    /// Why it is out of the pool.
    pub fault: Option<String>,
    pub held_by: Option<String>,
    /// Its last reading: "87% busy · 30.2 GiB used · 1 process" (empty without readings).
    pub reading: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedView {
    pub position: usize,
    pub user: String,
    pub server: String,
    pub size: String,
    pub since: Option<i64>,
    pub estimated_wait: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpusListing {
    pub source: String,
    pub notes: Vec<String>,
    pub units: Vec<GpuUnitView>,
    pub queue: Vec<QueuedView>,
}

/// Every running server's live usage (CPU, memory, GPUs).
#[server(prefix = "/hub/fn", endpoint = "admin_live_usage")]
pub async fn admin_live_usage() -> Result<Vec<LiveView>, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    Ok(hub::servers::usage_all(&hub).await?.into_iter().map(LiveView::from).collect())
}

#[server(prefix = "/hub/fn", endpoint = "admin_gpus")]
pub async fn admin_gpus() -> Result<GpusListing, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let report = hub::gpus::ledger::report(&hub).await.map_err(AppError::internal)?;
    let readings = hub.gpus().readings().clone();
    let units = report
        .units
        .into_iter()
        .map(|u| GpuUnitView {
            reading: readings
                .get(&u.gpu.uuid)
                .map(|r| {
                    let mut parts = Vec::new();
                    if let Some(p) = r.utilization_percent {
                        parts.push(format!("{p}% busy"));
                    }
                    if let Some(m) = r.memory_used_mib {
                        parts.push(format!("{:.1} GiB used", m as f64 / 1024.0));
                    }
                    if let Some(n) = r.processes {
                        parts.push(format!("{n} process{}", if n == 1 { "" } else { "es" }));
                    }
                    parts.join(" · ")
                })
                .unwrap_or_default(),
            index: u.gpu.index,
            uuid: u.gpu.uuid,
            model: u.gpu.model,
            memory_mib: u.gpu.memory_mib,
            mig_profile: u.gpu.mig_profile,
            fault: u.gpu.fault,
            held_by: u.held_by,
        })
        .collect();
    let queue = hub::servers::queue(&hub)
        .await?
        .into_iter()
        .map(|p| QueuedView {
            position: p.position,
            user: p.user.to_string(),
            server: p.server.to_string(),
            size: p.size.unwrap_or_default(),
            since: p.since,
            estimated_wait: hub::servers::describe_wait(p.estimated_wait_ms),
        })
        .collect();
    Ok(GpusListing { source: report.source.as_str().to_owned(), notes: report.notes, units, queue })
}

#[component]
pub fn AdminGpusPage() -> impl IntoView {
    let actions = ActionState::new();
    let listing = Resource::new(move || actions.version.get(), |_| admin_gpus());
    view! {
        <AdminTabs current="/hub/admin/gpus"/>
        <section class="card">
            <h1>"GPUs"</h1>
            <FormMessage result=actions.outcome_signal()/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || listing.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(l) => view! {
                        <p class="muted">{format!("Inventory from {} · {} unit(s)", l.source, l.units.len())}</p>
                        {l.notes.into_iter().map(|n| view! { <p class="muted">{n}</p> }).collect_view()}
                        <table class="table" data-testid=ids::ADMIN_GPUS>
                            <thead><tr>
                                <th scope="col">"#"</th><th scope="col">"Unit"</th><th scope="col">"Model"</th>
                                <th scope="col">"Memory"</th><th scope="col">"State"</th><th scope="col">"Now"</th>
                            </tr></thead>
                            <tbody>
                                {l.units.into_iter().map(|u| {
                                    let state = match (&u.fault, &u.held_by) {
                                        (Some(f), _) => format!("out of the pool: {f}"),
                                        (None, Some(h)) => format!("held by {h}"),
                                        (None, None) => "free".to_owned(),
                                    };
                                    let kind = u.mig_profile.map(|p| format!(" (MIG {p})")).unwrap_or_default();
                                    let key = u.uuid.clone();
                                    view! {
                                        <tr data-gpu=key>
                                            <td>{u.index}</td><td><code>{u.uuid}</code></td>
                                            <td>{format!("{}{kind}", u.model)}</td>
                                            <td>{format!("{} GiB", u.memory_mib / 1024)}</td>
                                            <td>{state}</td>
                                            <td>{u.reading}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <h2>"Queue"</h2>
                        {if l.queue.is_empty() {
                            view! { <p class="muted">"Nobody is waiting for a GPU."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table" data-testid=ids::ADMIN_GPU_QUEUE>
                                    <thead><tr>
                                        <th scope="col">"Position"</th><th scope="col">"Server"</th>
                                        <th scope="col">"Size"</th><th scope="col">"Waiting since"</th><th scope="col">"Estimated wait"</th><th scope="col"></th>
                                    </tr></thead>
                                    <tbody>
                                        {l.queue.into_iter().map(|q| {
                                            let label = if q.server.is_empty() { q.user.clone() } else { format!("{}/{}", q.user, q.server) };
                                            let (user, server) = (q.user.clone(), q.server.clone());
                                            let question = format!("Remove {label} from the queue?");
                                            let key = label.clone();
                                            view! {
                                                <tr data-queued=key>
                                                    <td>{q.position}</td><td>{label}</td><td>{q.size}</td>
                                                    <td>{q.since.map(format_ms).unwrap_or_default()}</td>
                                                    <td>{q.estimated_wait}</td>
                                                    <td><button class="small danger" on:click=move |_| actions.run(
                                                        Some(question.clone()),
                                                        server_action(user.clone(), server.clone(), "stop".into()),
                                                    )>"Remove"</button></td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    }.into_any(),
                })}
            </Transition>
            <LiveUsage/>
        </section>
    }
}

/// Every running server's CPU, memory and GPU use, read again every five seconds.
#[component]
fn LiveUsage() -> impl IntoView {
    let tick = RwSignal::new(0_u64);
    Effect::new(move |_| {
        let _ = set_interval_with_handle(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(5));
    });
    let usage = Resource::new(move || tick.get(), |_| admin_live_usage());
    view! {
        <h2>"Live usage"</h2>
        <Transition fallback=|| ()>
            {move || usage.get().map(|r| match r {
                Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted">"No server is running."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table" data-testid=ids::ADMIN_LIVE_USAGE>
                        <thead><tr><th scope="col">"Server"</th><th scope="col">"Use"</th><th scope="col">"GPU limit"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let name = if u.server.is_empty() { u.user.clone() } else { format!("{}/{}", u.user, u.server) };
                                let stops = u.stops_at_ms.map(|at| format!("stops {}: {}", format_ms(at), u.stop_reason.clone().unwrap_or_default())).unwrap_or_default();
                                let key = name.clone();
                                view! { <tr data-server=key><td>{name}</td><td>{u.summary()}</td><td>{stops}</td></tr> }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}
