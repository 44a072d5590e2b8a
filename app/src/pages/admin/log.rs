//! `/hub/admin/log`: the audit log (who did what to whom, when), newest first, with a filter.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{AdminTabs, Pager};
use crate::error::AppError;
use crate::ids;
use crate::time::format_ms;

pub const LOG_PAGE_SIZE: i64 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsListing {
    pub events: Vec<EventView>,
    pub total: i64,
}

#[server(prefix = "/hub/fn", endpoint = "admin_events")]
pub async fn admin_events(filter: String, page: i64) -> Result<EventsListing, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let (entries, total) =
        hub::audit::page(&hub, Some(&filter), page.max(0).saturating_mul(LOG_PAGE_SIZE), LOG_PAGE_SIZE)
            .await?;
    let events = entries
        .into_iter()
        .map(|e| EventView {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
        })
        .collect();
    Ok(EventsListing { events, total })
}

#[component]
pub fn AdminLogPage() -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let page = RwSignal::new(0_i64);
    let events = Resource::new(move || (filter.get(), page.get()), |(f, p)| admin_events(f, p));
    view! {
        <AdminTabs current="/hub/admin/log"/>
        <section class="card">
            <h1>"Audit log"</h1>
            <div class="toolbar">
                <input type="search" placeholder="Filter by user, target or action" aria-label="Filter"
                    data-testid=ids::ADMIN_LOG_FILTER
                    prop:value=move || filter.get()
                    on:input=move |ev| { filter.set(event_target_value(&ev)); page.set(0); }/>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || events.get().map(|r| match r {
                    Ok(l) => {
                        let first = page.get_untracked() * LOG_PAGE_SIZE;
                        let shown = l.events.len() as i64;
                        let total = l.total;
                        view! {
                            <table class="table" data-testid=ids::ADMIN_LOG>
                                <thead><tr>
                                    <th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                                    <th scope="col">"Target"</th><th scope="col">"Details"</th>
                                </tr></thead>
                                <tbody>
                                    {l.events.into_iter().map(|e| view! {
                                        <tr data-action=e.action.clone()>
                                            <td>{format_ms(e.at)}</td>
                                            <td>{e.actor.unwrap_or_else(|| "hub".into())}</td>
                                            <td>{e.action.clone()}</td>
                                            <td>{e.target.unwrap_or_default()}</td>
                                            <td class="muted">{e.detail}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager page=page first=first shown=shown total=total empty="Nothing logged."
                                previous="← Newer" next="Older →"/>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}
