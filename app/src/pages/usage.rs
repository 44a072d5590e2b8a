//! `/hub/usage`: a person's GPU usage: "12.5 of 30 GPU-hours used in the last 7 days", the limits
//! that apply to them, and their GPU sessions in the window.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids;
use crate::time::format_ms;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsView {
    pub gpus_at_once: Option<u32>,
    pub gpu_servers_at_once: Option<u32>,
    pub gpu_hours: Option<f64>,
    pub window_days: u32,
    pub max_session_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionLine {
    pub server: String,
    pub size: String,
    pub gpus: Vec<String>,
    pub units: f64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub end_reason: Option<String>,
    pub hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub used_hours: f64,
    pub limits: LimitsView,
    pub sessions: Vec<SessionLine>,
}

#[cfg(feature = "ssr")]
impl From<hub::gpus::limits::Effective> for LimitsView {
    fn from(e: hub::gpus::limits::Effective) -> Self {
        LimitsView {
            gpus_at_once: e.gpus_at_once,
            gpu_servers_at_once: e.gpu_servers_at_once,
            gpu_hours: e.gpu_hours,
            window_days: e.window_days,
            max_session_hours: e.max_session_hours,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<hub::gpus::meter::SessionView> for SessionLine {
    fn from(s: hub::gpus::meter::SessionView) -> Self {
        SessionLine {
            server: s.server,
            size: s.size,
            gpus: s.gpus,
            units: s.units,
            started_ms: s.started_ms,
            ended_ms: s.ended_ms,
            end_reason: s.end_reason,
            hours: s.hours,
        }
    }
}

#[server(prefix = "/hub/fn", endpoint = "my_gpu_usage")]
pub async fn my_gpu_usage() -> Result<UsageReport, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let usage =
        hub::gpus::meter::usage_of(&hub, user.id, user.name.as_str()).await.map_err(AppError::internal)?;
    Ok(UsageReport {
        used_hours: usage.used_hours,
        limits: usage.limits.into(),
        sessions: usage.sessions.into_iter().map(SessionLine::from).collect(),
    })
}

/// "12.5 of 30 GPU-hours used in the last 7 days" (or "12.5 GPU-hours …" without a quota).
pub fn headline(used: f64, limits: &LimitsView) -> String {
    match limits.gpu_hours {
        Some(limit) => {
            format!("{used:.1} of {} GPU-hours used in the last {} days", hours(limit), limits.window_days)
        }
        None => format!("{used:.1} GPU-hours used in the last {} days (no quota)", limits.window_days),
    }
}

/// `30`, `7.5`: hours without trailing zeros.
pub fn hours(h: f64) -> String {
    let text = format!("{h:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The limits in words, for the usage pages.
pub fn limits_text(l: &LimitsView) -> Vec<String> {
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "no limit".to_owned());
    vec![
        format!("GPUs at once: {}", or_none(l.gpus_at_once.map(|n| n.to_string()))),
        format!("GPU servers at once: {}", or_none(l.gpu_servers_at_once.map(|n| n.to_string()))),
        format!("Longest GPU session: {}", or_none(l.max_session_hours.map(|h| format!("{} h", hours(h))))),
    ]
}

#[component]
pub fn UsagePage() -> impl IntoView {
    let report = Resource::new(|| (), |_| my_gpu_usage());
    view! {
        <section class="card">
            <h1>"GPU usage"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || report.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(r) => view! {
                        <p class="lead" data-testid=ids::USAGE_SUMMARY>{headline(r.used_hours, &r.limits)}</p>
                        <ul class="muted">
                            {limits_text(&r.limits).into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}
                        </ul>
                        {if r.sessions.is_empty() {
                            view! { <p class="muted">"No GPU sessions in this window."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table" data-testid=ids::USAGE_SESSIONS>
                                    <thead><tr>
                                        <th scope="col">"Server"</th><th scope="col">"Size"</th><th scope="col">"GPUs"</th>
                                        <th scope="col">"Started"</th><th scope="col">"Ended"</th><th scope="col">"GPU-hours"</th>
                                    </tr></thead>
                                    <tbody>
                                        {r.sessions.into_iter().map(|s| {
                                            let label = if s.server.is_empty() { "default".to_owned() } else { s.server.clone() };
                                            let ended = match (s.ended_ms, &s.end_reason) {
                                                (None, _) => "running".to_owned(),
                                                (Some(at), None) => format_ms(at),
                                                (Some(at), Some(why)) => format!("{} ({why})", format_ms(at)),
                                            };
                                            let key = label.clone();
                                            view! {
                                                <tr data-server=key>
                                                    <td>{label}</td><td>{s.size}</td>
                                                    <td>{format!("{} ({})", hours(s.units), s.gpus.join(", "))}</td>
                                                    <td>{format_ms(s.started_ms)}</td><td>{ended}</td>
                                                    <td>{format!("{:.2}", s.hours)}</td>
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
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_says_used_of_quota_in_the_window() {
        let mut l = LimitsView {
            gpus_at_once: Some(2),
            gpu_servers_at_once: None,
            gpu_hours: Some(30.0),
            window_days: 7,
            max_session_hours: Some(7.5),
        };
        assert_eq!(headline(12.5, &l), "12.5 of 30 GPU-hours used in the last 7 days");
        assert_eq!(limits_text(&l)[2], "Longest GPU session: 7.5 h");
        assert_eq!(limits_text(&l)[1], "GPU servers at once: no limit");
        l.gpu_hours = None;
        assert_eq!(headline(0.0, &l), "0.0 GPU-hours used in the last 7 days (no quota)");
    }
}
