//! `/hub/admin/overview`: the hub over the last 24 hours or 7 days, as small charts: running
//! servers, active users, the GPU queue and its wait, start times, each GPU's utilisation and
//! memory (`hub::overview` samples them every five minutes).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AdminTabs;
use crate::components::chart::{ChartData, LineChart};
use crate::error::AppError;
use crate::ids;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewView {
    pub from_ms: i64,
    pub to_ms: i64,
    pub charts: Vec<ChartData>,
}

/// The charts of the last `days` days (1 or 7).
#[server(prefix = "/hub/fn", endpoint = "admin_overview")]
pub async fn admin_overview(days: u32) -> Result<OverviewView, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    if !matches!(days, 1 | 7) {
        return Err(AppError::Invalid("The overview covers 1 or 7 days.".into()));
    }
    let to_ms = hub.clock().now_ms();
    let from_ms = to_ms - i64::from(days) * 86_400_000;
    let series = hub::overview::since(&hub, from_ms).await?;
    Ok(OverviewView { from_ms, to_ms, charts: ssr::charts(series) })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use hub::overview::{Metric, Series};

    use crate::components::chart::{ChartData, ChartSeries};

    /// One chart per figure, in the order of [`Metric::ALL`]; the GPU figures only when there
    /// are samples of them.
    pub fn charts(series: Vec<Series>) -> Vec<ChartData> {
        Metric::ALL
            .into_iter()
            .filter_map(|metric| {
                let of: Vec<ChartSeries> = series
                    .iter()
                    .filter(|s| s.metric == metric)
                    .map(|s| ChartSeries { label: s.label.clone(), points: s.points.clone() })
                    .collect();
                let gpu = matches!(metric, Metric::GpuUtilization | Metric::GpuMemoryMib);
                (!gpu || !of.is_empty()).then(|| ChartData {
                    metric: metric.as_str().to_owned(),
                    title: metric.title().to_owned(),
                    series: of,
                })
            })
            .collect()
    }
}

#[component]
pub fn AdminOverviewPage() -> impl IntoView {
    let days = RwSignal::new(1_u32);
    let overview = Resource::new(move || days.get(), admin_overview);
    let range = move |d: u32, label: &'static str| {
        view! {
            <button type="button" class="secondary small" class:current=move || days.get() == d
                aria-pressed=move || (days.get() == d).to_string() on:click=move |_| days.set(d)>{label}</button>
        }
    };
    view! {
        <AdminTabs current="/hub/admin/overview"/>
        <section class="card">
            <h1>"Overview"</h1>
            <div class="row-actions">{range(1, "Last 24 hours")}{range(7, "Last 7 days")}</div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || overview.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(o) => view! {
                        <div class="charts" data-testid=ids::ADMIN_OVERVIEW>
                            {o.charts.into_iter().map(|c| view! { <LineChart chart=c from_ms=o.from_ms to_ms=o.to_ms/> }).collect_view()}
                        </div>
                        <p class="muted">"Sampled every five minutes and kept for eight days."</p>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
