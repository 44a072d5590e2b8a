//! `/hub/admin/usage`: GPU usage per user and per group in their windows, the limits that apply
//! (from the config or set here), an editor for a user's or group's limits, and the CSV export
//! (`/hub/admin/usage.csv`, served by the hub next to the pages).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AdminTabs;
use crate::error::AppError;
use crate::ids;
use crate::pages::usage::{hours, LimitsView};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    pub gpus_at_once: Option<u32>,
    pub gpu_servers_at_once: Option<u32>,
    pub gpu_hours: Option<f64>,
    pub window_days: Option<u32>,
    pub max_session_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineView {
    pub name: String,
    pub limits: LimitsView,
    pub source: String,
    pub entry: EntryView,
    pub used_hours: f64,
    pub sessions: usize,
    pub gpus_now: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageTables {
    pub users: Vec<LineView>,
    pub groups: Vec<LineView>,
    pub default: EntryView,
}

#[cfg(feature = "ssr")]
impl From<hub::config::GpuLimits> for EntryView {
    fn from(l: hub::config::GpuLimits) -> Self {
        EntryView {
            gpus_at_once: l.gpus_at_once,
            gpu_servers_at_once: l.gpu_servers_at_once,
            gpu_hours: l.gpu_hours,
            window_days: l.window_days,
            max_session_hours: l.max_session_hours,
        }
    }
}

#[server(prefix = "/hub/fn", endpoint = "admin_usage")]
pub async fn admin_usage() -> Result<UsageTables, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let report = hub::gpus::meter::report(&hub).await.map_err(AppError::internal)?;
    let line = |l: hub::gpus::meter::ReportLine| LineView {
        name: l.name,
        limits: l.limits.into(),
        source: l.source.as_str().to_owned(),
        entry: l.entry.into(),
        used_hours: l.used_hours,
        sessions: l.sessions,
        gpus_now: l.gpus_now,
    };
    Ok(UsageTables {
        users: report.users.into_iter().map(line).collect(),
        groups: report.groups.into_iter().map(line).collect(),
        default: report.default.into(),
    })
}

/// Sets a user's or a group's GPU limits (`kind`: `user` or `group`); an empty field falls back
/// to the groups and the default. `clear` removes what was set here (the config applies again).
#[server(prefix = "/hub/fn", endpoint = "set_gpu_limits")]
#[allow(clippy::too_many_arguments)]
pub async fn set_gpu_limits(
    kind: String,
    name: String,
    gpus_at_once: Option<String>,
    gpu_servers_at_once: Option<String>,
    gpu_hours: Option<String>,
    window_days: Option<String>,
    max_session_hours: Option<String>,
    clear: Option<String>,
) -> Result<(), AppError> {
    use hub::gpus::meter::SubjectName;
    let admin = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let name = name.trim().to_owned();
    let subject = match kind.as_str() {
        "user" => SubjectName::User(name),
        "group" => SubjectName::Group(name),
        other => return Err(AppError::Invalid(format!("unknown kind {other:?}: user or group"))),
    };
    fn field<T: std::str::FromStr>(label: &str, value: Option<String>) -> Result<Option<T>, AppError> {
        match value.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| AppError::Invalid(format!("{label} must be a number, not {v:?}"))),
        }
    }
    let limits = if clear.is_some() {
        None
    } else {
        Some(hub::config::GpuLimits {
            gpus_at_once: field("GPUs at once", gpus_at_once)?,
            gpu_servers_at_once: field("GPU servers at once", gpu_servers_at_once)?,
            gpu_hours: field("GPU-hours", gpu_hours)?,
            window_days: field("window (days)", window_days)?,
            max_session_hours: field("longest session (hours)", max_session_hours)?,
        })
    };
    hub::gpus::meter::set_override(&hub, Some(admin.name.as_str()), &subject, limits).await?;
    Ok(())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The limits form: prefilled with `entry`; Save sets them, "Use the config" clears what was set here.
fn editor(
    kind: &'static str,
    name: String,
    entry: EntryView,
    set: ServerAction<SetGpuLimits>,
    can_clear: bool,
) -> impl IntoView {
    let field = |label: &'static str, key: &'static str, value: String| {
        view! {
            <label class="inline-field">{label}" "<input name=key type="text" inputmode="decimal" size="5" value=value/></label>
        }
    };
    view! {
        <ActionForm action=set attr:class="limits-form">
            <input type="hidden" name="kind" value=kind/>
            <input type="hidden" name="name" value=name/>
            {field("GPUs at once", "gpus_at_once", opt(entry.gpus_at_once))}
            {field("GPU servers", "gpu_servers_at_once", opt(entry.gpu_servers_at_once))}
            {field("GPU-hours", "gpu_hours", opt(entry.gpu_hours))}
            {field("per days", "window_days", opt(entry.window_days))}
            {field("longest session (h)", "max_session_hours", opt(entry.max_session_hours))}
            <button type="submit" class="small">"Save"</button>
            {can_clear.then(|| view! { <button type="submit" class="small secondary" name="clear" value="1">"Use the config"</button> })}
        </ActionForm>
    }
}

fn table(
    kind: &'static str,
    lines: Vec<LineView>,
    set: ServerAction<SetGpuLimits>,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <table class="table" data-testid=testid>
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"GPU-hours used"</th><th scope="col">"GPUs now"</th>
                <th scope="col">"Sessions"</th><th scope="col">"Limits"</th>
            </tr></thead>
            <tbody>
                {lines.into_iter().map(|l| {
                    let used = match l.limits.gpu_hours {
                        Some(limit) => format!("{:.1} of {} in {} days", l.used_hours, hours(limit), l.limits.window_days),
                        None => format!("{:.1} in {} days", l.used_hours, l.limits.window_days),
                    };
                    let key = l.name.clone();
                    let overridden = l.source == "override";
                    view! {
                        <tr data-name=key>
                            <td>{l.name.clone()}</td><td>{used}</td><td>{hours(l.gpus_now)}</td><td>{l.sessions}</td>
                            <td>
                                <span class="muted">{format!("from {}", l.source)}</span>
                                {editor(kind, l.name.clone(), l.entry.clone(), set, overridden)}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn AdminUsagePage() -> impl IntoView {
    let set = ServerAction::<SetGpuLimits>::new();
    let report = Resource::new(move || set.version().get(), |_| admin_usage());
    view! {
        <AdminTabs current="/hub/admin/usage"/>
        <section class="card">
            <h1>"GPU usage and limits"</h1>
            <p><a class="button" href="/hub/admin/usage.csv" download="ganymede-gpu-usage.csv" rel="external" data-testid=ids::ADMIN_USAGE_CSV>"Download CSV"</a></p>
            {move || set.value().get().map(|r| match r {
                Ok(()) => view! { <p class="notice" role="status" data-testid=ids::FORM_MESSAGE>"Limits saved."</p> }.into_any(),
                Err(e) => view! { <p class="notice error" role="alert" data-testid=ids::FORM_MESSAGE>{e.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || report.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(r) => {
                        let d = &r.default;
                        let dash = |v: String| if v.is_empty() { "–".to_owned() } else { v };
                        let default = format!(
                            "Everyone (from the config): GPUs at once {}, GPU servers {}, GPU-hours {} per {} days, longest session {} h",
                            dash(opt(d.gpus_at_once)),
                            dash(opt(d.gpu_servers_at_once)),
                            dash(opt(d.gpu_hours)),
                            d.window_days.unwrap_or(7),
                            dash(opt(d.max_session_hours)),
                        );
                        view! {
                            <p class="muted">{default}</p>
                            <h2>"Users"</h2>
                            {table("user", r.users, set, ids::ADMIN_USAGE_USERS)}
                            <h2>"Groups"</h2>
                            {table("group", r.groups, set, ids::ADMIN_USAGE_GROUPS)}
                        }.into_any()
                    }
                })}
            </Transition>
            <h2>"Set limits for someone else"</h2>
            <ActionForm action=set attr:class="limits-form">
                <label class="inline-field">"Kind "
                    <select name="kind"><option value="user">"user"</option><option value="group">"group"</option></select>
                </label>
                <label class="inline-field">"Name "<input name="name" type="text" size="12" required/></label>
                <label class="inline-field">"GPUs at once "<input name="gpus_at_once" type="text" size="5"/></label>
                <label class="inline-field">"GPU servers "<input name="gpu_servers_at_once" type="text" size="5"/></label>
                <label class="inline-field">"GPU-hours "<input name="gpu_hours" type="text" size="5"/></label>
                <label class="inline-field">"per days "<input name="window_days" type="text" size="5"/></label>
                <label class="inline-field">"longest session (h) "<input name="max_session_hours" type="text" size="5"/></label>
                <button type="submit" class="small">"Save"</button>
            </ActionForm>
        </section>
    }
}
