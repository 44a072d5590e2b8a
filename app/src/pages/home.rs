use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::live_usage::LiveView;
use crate::error::AppError;
use crate::ids;
use crate::server_phase::ServerPhase;
use crate::session::use_current_user;
use crate::time::format_ms;

/// A flavour card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlavourView {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub tags: Vec<String>,
    /// Ids of the sizes this flavour can use here.
    pub sizes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeView {
    pub id: String,
    pub display_name: String,
    /// What it gives, plainly: "4 CPU · 16 GiB · 1 GPU (NVIDIA A100 80 GiB)".
    pub summary: String,
    /// For a GPU size: how many GPUs of its kind are free now, of how many ("3 of 8 free").
    pub gpus_free: Option<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchChoices {
    pub flavours: Vec<FlavourView>,
    pub sizes: Vec<SizeView>,
    pub named_servers: bool,
}

/// A row of "Your servers".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub name: String,
    pub status: ServerPhase,
    /// Why the last start or stop failed (a stopping server with an error is retried).
    pub last_error: Option<String>,
    pub flavour: Option<String>,
    pub size: Option<String>,
    pub url: String,
    pub progress_page: String,
    pub started_at: Option<i64>,
    pub last_activity: Option<i64>,
}

#[cfg(feature = "ssr")]
impl ServerView {
    /// The view of a server of `user` (the dashboard's list and the admin table).
    pub fn from_info(user: &str, s: hub::servers::ServerInfo) -> Self {
        Self {
            progress_page: ssr::progress_page(user, s.name.as_str()),
            name: s.name.to_string(),
            status: s.state.into(),
            last_error: s.last_error,
            flavour: s.flavour,
            size: s.size,
            url: s.url,
            started_at: s.started_at,
            last_activity: s.last_activity,
        }
    }
}

#[server(prefix = "/hub/fn", endpoint = "launch_options")]
pub async fn launch_options() -> Result<LaunchChoices, AppError> {
    crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let config = hub.config();
    let inventory = hub.gpus().snapshot();
    let flavours = config
        .flavours
        .iter()
        .map(|f| FlavourView {
            id: f.id.clone(),
            display_name: f.display_name.clone(),
            description: f.description.clone(),
            icon: f.icon.clone(),
            tags: f.tags.clone(),
            sizes: hub::catalogue::sizes_for(config, &inventory, f).iter().map(|s| s.id.clone()).collect(),
        })
        .collect();
    let mut sizes = Vec::new();
    for s in hub::catalogue::offered_sizes(config, &inventory) {
        let gpus_free = if s.gpus > 0 {
            let a = hub::gpus::ledger::availability(&hub, s).await.map_err(AppError::internal)?;
            Some((a.free, a.suitable))
        } else {
            None
        };
        let summary = ssr::size_summary(s, &inventory);
        sizes.push(SizeView { id: s.id.clone(), display_name: s.display_name.clone(), summary, gpus_free });
    }
    Ok(LaunchChoices { flavours, sizes, named_servers: config.servers.named_servers_limit > 0 })
}

/// A size as the launch form lists it, with live GPU availability for GPU sizes.
fn size_label(s: &SizeView) -> String {
    match s.gpus_free {
        Some((free, total)) => format!("{} — {} — {free} of {total} GPUs free", s.display_name, s.summary),
        None => format!("{} — {}", s.display_name, s.summary),
    }
}

/// A flavour's icon: one the site ships (`/icons/{name}.svg`), an image path or URL, else text.
fn flavour_icon(icon: &str) -> AnyView {
    const SHIPPED: &[&str] = &["planet", "chart", "chip", "book"];
    let src = if SHIPPED.contains(&icon) {
        Some(format!("/icons/{icon}.svg"))
    } else if icon.starts_with('/') || icon.starts_with("https://") {
        Some(icon.to_owned())
    } else {
        None
    };
    match src {
        Some(src) => view! { <img class="icon" src=src alt="" width="32" height="32"/> }.into_any(),
        None => view! { <span class="icon">{icon.to_owned()}</span> }.into_any(),
    }
}

#[server(prefix = "/hub/fn", endpoint = "my_usage")]
pub async fn my_usage() -> Result<Vec<LiveView>, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    Ok(hub::servers::usage(&hub, &user).await?.into_iter().map(LiveView::from).collect())
}

/// Moves a running GPU session's length limit later (while nobody waits for a GPU).
#[server(prefix = "/hub/fn", endpoint = "extend_gpu_session")]
pub async fn extend_gpu_session(name: String) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let server = hub::domain::ServerName::parse(&name).map_err(|e| AppError::Invalid(e.to_string()))?;
    hub::servers::gpu_limits::extend(&hub, Some(user.name.as_str()), &user, &server).await?;
    Ok(())
}

/// A person's own GPU use over their GPU sessions so far (the Overview's samples of the units
/// they hold), for the dashboard's chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuUseView {
    pub from_ms: i64,
    pub to_ms: i64,
    pub chart: crate::components::chart::ChartData,
}

#[server(prefix = "/hub/fn", endpoint = "my_gpu_use")]
pub async fn my_gpu_use() -> Result<Option<GpuUseView>, AppError> {
    use crate::components::chart::{ChartData, ChartSeries};
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let series = hub::overview::gpu_use_of(&hub, &user).await?;
    let Some(from_ms) = series.iter().filter_map(|s| s.points.first().map(|p| p.0)).min() else {
        return Ok(None);
    };
    let chart = ChartData {
        metric: "my_gpu_utilization_percent".into(),
        title: "Your GPU utilisation this session (%)".into(),
        series: series.into_iter().map(|s| ChartSeries { label: s.label, points: s.points }).collect(),
    };
    Ok(Some(GpuUseView { from_ms, to_ms: hub.clock().now_ms(), chart }))
}

/// The chart of [`my_gpu_use`], when the person holds GPUs that were sampled.
#[component]
fn MyGpuUse() -> impl IntoView {
    let gpu_use = Resource::new(|| (), |_| my_gpu_use());
    view! {
        <Transition fallback=|| ()>
            {move || gpu_use.get().and_then(Result::ok).flatten().map(|g| view! {
                <div class="my-gpu-use" data-testid=ids::MY_GPU_USE>
                    <crate::components::chart::LineChart chart=g.chart from_ms=g.from_ms to_ms=g.to_ms/>
                </div>
            })}
        </Transition>
    }
}

/// Since when the container engine has not answered, if it has not (`None`: it answers).
#[server(prefix = "/hub/fn", endpoint = "engine_outage")]
pub async fn engine_outage() -> Result<Option<i64>, AppError> {
    let _user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    Ok(hub.engine().outage().map(|o| o.since_ms))
}

/// A banner while the container engine does not answer, read again every five seconds; when it
/// is back the server list is read again (servers whose workloads died are stopped by then).
#[component]
fn EngineNotice(on_back: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let tick = RwSignal::new(0_u64);
    let was_down = RwSignal::new(false);
    Effect::new(move |_| {
        let _ = set_interval_with_handle(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(5));
    });
    let outage = Resource::new(move || tick.get(), |_| engine_outage());
    Effect::new(move |_| {
        let down = matches!(outage.get(), Some(Ok(Some(_))));
        if was_down.get_untracked() && !down {
            on_back();
        }
        was_down.set(down);
    });
    view! {
        <Transition fallback=|| ()>
            {move || outage.get().and_then(Result::ok).flatten().map(|since| view! {
                <p class="notice warning" role="alert" data-testid=ids::ENGINE_NOTICE>
                    {format!(
                        "The container engine has not answered since {}. Servers cannot start or stop until it is back; \
                         running ones are checked as soon as it answers.",
                        format_ms(since)
                    )}
                </p>
            })}
        </Transition>
    }
}

/// Keep running: the owner still uses the server (counts as its activity for the culler).
#[server(prefix = "/hub/fn", endpoint = "keep_running")]
pub async fn keep_running(name: String) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let server = hub::domain::ServerName::parse(&name).map_err(|e| AppError::Invalid(e.to_string()))?;
    hub::servers::culler::keep_running(&hub, Some(user.name.as_str()), &user, &server).await?;
    Ok(())
}

/// "Your server default stops at 14:05", once per deadline, when the dashboard is in a
/// background tab and may notify.
fn notify_cull(label: &str, when: &str, seen: RwSignal<Vec<(String, i64)>>, at_ms: i64) {
    let key = (label.to_owned(), at_ms);
    if seen.with_untracked(|s| s.contains(&key)) {
        return;
    }
    seen.update_untracked(|s| s.push(key));
    #[cfg(feature = "hydrate")]
    {
        let hidden = web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden());
        if hidden && web_sys::Notification::permission() == web_sys::NotificationPermission::Granted {
            let options = web_sys::NotificationOptions::new();
            options
                .set_body(&format!("It stops at {when} unless used. Open the dashboard to keep it running."));
            let _ =
                web_sys::Notification::new_with_options(&format!("Your server {label} is idle"), &options);
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = when;
}

/// Live CPU, memory and GPU use of the running servers, and when a GPU limit stops them (with
/// Extend when the length limit does and nobody waits), read again every five seconds.
#[component]
fn Usage() -> impl IntoView {
    let tick = RwSignal::new(0_u64);
    let extend = ServerAction::<ExtendGpuSession>::new();
    let keep = ServerAction::<KeepRunning>::new();
    let notified = RwSignal::new(Vec::<(String, i64)>::new());
    Effect::new(move |_| {
        let _ = set_interval_with_handle(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(5));
        #[cfg(feature = "hydrate")]
        if web_sys::Notification::permission() == web_sys::NotificationPermission::Default {
            let _ = web_sys::Notification::request_permission();
        }
    });
    let usage =
        Resource::new(move || (tick.get(), extend.version().get(), keep.version().get()), |_| my_usage());
    view! {
        <Transition fallback=|| ()>
            {move || usage.get().and_then(Result::ok).filter(|u| !u.is_empty()).map(|list| view! {
                <ul class="usage muted" data-testid=ids::SERVER_USAGE>
                    {list.iter().map(|u| view! {
                        <li data-server=u.label()>{format!("{}: {}", u.label(), u.summary())}</li>
                    }).collect_view()}
                </ul>
                {list.clone().into_iter().filter(|u| u.stops_at_ms.is_some()).map(|u| {
                    let class = if u.warned { "notice warning" } else { "notice muted" };
                    let when = u.stops_at_ms.map(format_ms).unwrap_or_default();
                    let text = format!("{} stops at {when}: {}.", u.label(), u.stop_reason.clone().unwrap_or_default());
                    let name = u.server.clone();
                    view! {
                        <p class=class role=if u.warned { Some("alert") } else { None }
                           data-testid=ids::GPU_SESSION_NOTICE data-server=u.label()>
                            {text}
                            {u.extensible.then(|| view! {
                                " "
                                <ActionForm action=extend attr:class="inline">
                                    <input type="hidden" name="name" value=name/>
                                    <button type="submit" class="small">"Extend"</button>
                                </ActionForm>
                            })}
                        </p>
                    }
                }).collect_view()}
                {list.iter().filter_map(|u| u.cull.clone().map(|c| (u.label(), u.server.clone(), c))).map(|(label, name, c)| {
                    let when = format_ms(c.at_ms);
                    if c.warned {
                        notify_cull(&label, &when, notified, c.at_ms);
                    }
                    let text = if c.keepable {
                        format!("{label} stops at {when} unless used ({}).", c.reason)
                    } else {
                        format!("{label} stops at {when}: {}.", c.reason)
                    };
                    view! {
                        <p class=if c.warned { "notice warning" } else { "notice muted" }
                           role=if c.warned { Some("alert") } else { None }
                           data-testid=ids::CULL_NOTICE data-server=label data-warned=c.warned.to_string()>
                            {text}
                            {(c.keepable && c.warned).then(|| view! {
                                " "
                                <ActionForm action=keep attr:class="inline">
                                    <input type="hidden" name="name" value=name/>
                                    <button type="submit" class="small">"Keep running"</button>
                                </ActionForm>
                            })}
                        </p>
                    }
                }).collect_view()}
            })}
        </Transition>
        {move || keep.value().get().and_then(|r| r.err()).map(|e| view! {
            <p class="notice error" role="alert">{e.to_string()}</p>
        })}
        {move || extend.value().get().and_then(|r| r.err()).map(|e| view! {
            <p class="notice error" role="alert">{e.to_string()}</p>
        })}
    }
}

#[server(prefix = "/hub/fn", endpoint = "my_servers")]
pub async fn my_servers() -> Result<Vec<ServerView>, AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let servers = hub::servers::list(&hub, &user).await?;
    Ok(servers.into_iter().map(|s| ServerView::from_info(user.name.as_str(), s)).collect())
}

/// Starts a server and sends the browser to its progress page (or straight to it when running).
#[server(prefix = "/hub/fn", endpoint = "start_server")]
pub async fn start_server(flavour: String, size: String, name: Option<String>) -> Result<(), AppError> {
    use hub::servers::StartOutcome;
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let server = hub::domain::ServerName::parse(name.as_deref().unwrap_or_default())
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let requested = hub::servers::Requested::both(&flavour, &size);
    match hub::servers::start(&hub, Some(user.name.as_str()), &user, &server, requested).await? {
        StartOutcome::Started | StartOutcome::Queued | StartOutcome::AlreadyPending => {
            leptos_axum::redirect(&ssr::progress_page(user.name.as_str(), server.as_str()))
        }
        StartOutcome::AlreadyRunning => leptos_axum::redirect(&hub::servers::base_url(&user.name, &server)),
    }
    Ok(())
}

#[server(prefix = "/hub/fn", endpoint = "stop_server")]
pub async fn stop_server(name: String) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let server = hub::domain::ServerName::parse(&name).map_err(|e| AppError::Invalid(e.to_string()))?;
    hub::servers::stop(&hub, Some(user.name.as_str()), &user, &server).await?;
    Ok(())
}

#[server(prefix = "/hub/fn", endpoint = "delete_server")]
pub async fn delete_server(name: String) -> Result<(), AppError> {
    let user = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let server = hub::domain::ServerName::parse(&name).map_err(|e| AppError::Invalid(e.to_string()))?;
    hub::servers::delete(&hub, Some(user.name.as_str()), &user, &server).await?;
    Ok(())
}

#[cfg(feature = "ssr")]
mod ssr {
    /// "4 CPU · 16 GiB · 1 GPU (Test GPU, 16 GiB)": the GPU part names the models that fit.
    pub fn size_summary(size: &hub::config::SizeConfig, inventory: &hub::gpus::Inventory) -> String {
        let memory = if size.memory_mib.is_multiple_of(1024) {
            format!("{} GiB", size.memory_mib / 1024)
        } else {
            format!("{} MiB", size.memory_mib)
        };
        let mut text = format!("{} CPU · {memory}", size.cpu);
        if size.gpus > 0 {
            let request = hub::gpus::allocate::GpuRequest::of(size);
            let mut kinds: Vec<String> = inventory
                .healthy()
                .filter(|g| request.accepts(g))
                .map(|g| match &g.mig_profile {
                    Some(p) => format!("{} MIG {p}", g.model),
                    None => format!("{}, {} GiB", g.model, g.memory_mib / 1024),
                })
                .collect();
            kinds.sort();
            kinds.dedup();
            let unit = if size.gpus == 1 { "GPU" } else { "GPUs" };
            text.push_str(&format!(" · {} {unit} ({})", size.gpus, kinds.join("; ")));
        }
        text
    }

    pub fn progress_page(user: &str, server: &str) -> String {
        if server.is_empty() {
            format!("/hub/spawn-pending/{user}")
        } else {
            format!("/hub/spawn-pending/{user}/{server}")
        }
    }
}

/// `/hub/home`: the dashboard: launch a server, and the list of your servers.
#[component]
pub fn HomePage() -> impl IntoView {
    let user = use_current_user();
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                user.get().map(|u| match u {
                    Ok(Some(u)) => view! {
                        <section class="dashboard" data-testid=ids::DASHBOARD>
                            <h1>"Welcome, " {u.name.clone()}</h1>
                            <Servers/>
                            <Launcher/>
                            <crate::pages::sharing::SharingCard/>
                        </section>
                    }.into_any(),
                    _ => view! { <p>"Please " <a href="/hub/login">"sign in"</a> "."</p> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn Launcher() -> impl IntoView {
    let options = Resource::new(|| (), |_| launch_options());
    let start = ServerAction::<StartServer>::new();
    let chosen = RwSignal::new(String::new());
    view! {
        <div class="card">
            <h2>"Start a server"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || options.get().map(|o| match o {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(o) => {
                        let first = o.flavours.first().map(|f| f.id.clone()).unwrap_or_default();
                        if chosen.get_untracked().is_empty() { chosen.set(first.clone()); }
                        let flavours = o.flavours.clone();
                        let sizes = o.sizes.clone();
                        let allowed = move || {
                            let id = chosen.get();
                            flavours.iter().find(|f| f.id == id).map(|f| f.sizes.clone()).unwrap_or_default()
                        };
                        view! {
                            <ActionForm action=start>
                                <fieldset class="flavours">
                                    <legend>"Flavour"</legend>
                                    {o.flavours.iter().map(|f| {
                                        let id = f.id.clone();
                                        let id_for_change = f.id.clone();
                                        let checked = f.id == first;
                                        view! {
                                            <label class="flavour-card">
                                                <input type="radio" name="flavour" value=id.clone() checked=checked
                                                    on:change=move |_| chosen.set(id_for_change.clone())/>
                                                {flavour_icon(&f.icon)}
                                                <strong>{f.display_name.clone()}</strong>
                                                <span class="muted">{f.description.clone()}</span>
                                            </label>
                                        }
                                    }).collect_view()}
                                </fieldset>
                                <label for="size">"Size"</label>
                                <select id="size" name="size">
                                    {move || {
                                        let allowed = allowed();
                                        sizes.iter().filter(|s| allowed.contains(&s.id)).map(|s| view! {
                                            <option value=s.id.clone()>{size_label(s)}</option>
                                        }).collect_view()
                                    }}
                                </select>
                                {o.named_servers.then(|| view! {
                                    <label for="server-name">"Server name (optional)"</label>
                                    <input id="server-name" name="name" type="text" placeholder="leave empty for your default server"/>
                                })}
                                <button type="submit" class="primary" disabled=move || start.pending().get()>"Start"</button>
                            </ActionForm>
                        }.into_any()
                    }
                })}
            </Transition>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="notice error" role="alert" data-testid=ids::FORM_MESSAGE>{e.to_string()}</p>
            })}
        </div>
    }
}

#[component]
fn Servers() -> impl IntoView {
    let stop = ServerAction::<StopServer>::new();
    let delete = ServerAction::<DeleteServer>::new();
    let engine_back = RwSignal::new(0_u64);
    let servers = Resource::new(
        move || (stop.version().get(), delete.version().get(), engine_back.get()),
        |_| my_servers(),
    );
    view! {
        <div class="card">
            <h2>"Your servers"</h2>
            <EngineNotice on_back=move || engine_back.update(|n| *n += 1)/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || servers.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"You have no notebook servers yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid=ids::SERVERS>
                            <thead><tr>
                                <th scope="col">"Server"</th><th scope="col">"Status"</th><th scope="col">"Flavour"</th>
                                <th scope="col">"Size"</th><th scope="col">"Started"</th><th scope="col">"Last activity"</th><th scope="col"></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|s| server_row(s, stop, delete)).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
            <Usage/>
            <MyGpuUse/>
            {move || stop.value().get().and_then(|r| r.err()).or_else(|| delete.value().get().and_then(|r| r.err())).map(|e| view! {
                <p class="notice error" role="alert">{e.to_string()}</p>
            })}
        </div>
    }
}

fn server_row(
    s: ServerView,
    stop: ServerAction<StopServer>,
    delete: ServerAction<DeleteServer>,
) -> impl IntoView {
    let label = if s.name.is_empty() { "default".to_owned() } else { s.name.clone() };
    let running = s.status == ServerPhase::Running;
    let pending = s.status == ServerPhase::Pending;
    // Waiting for a GPU: its progress page says the position; Stop leaves the queue.
    let queued = s.status == ServerPhase::Queued;
    let stopped = s.status == ServerPhase::Stopped;
    // A stop the engine refused stays `stopping`; its owner may try again.
    let stuck = s.status == ServerPhase::Stopping && s.last_error.is_some();
    let name_for_stop = s.name.clone();
    let name_for_delete = s.name.clone();
    let row_key = label.clone();
    view! {
        <tr data-server=row_key>
            <td>{label}</td>
            <td>
                <span class=format!("status {}", s.status)>{s.status.as_str()}</span>
                {s.last_error.clone().map(|e| view! { <span class="muted server-error" role="status">" " {e}</span> })}
                {(running || s.last_error.is_some()).then(|| view! {
                    <crate::pages::spawn_pending::ServerLog user=String::new() server=s.name.clone()/>
                })}
            </td>
            <td>{s.flavour.clone().unwrap_or_default()}</td>
            <td>{s.size.clone().unwrap_or_default()}</td>
            <td>{s.started_at.map(format_ms).unwrap_or_default()}</td>
            <td>{s.last_activity.map(format_ms).unwrap_or_else(|| "never".into())}</td>
            <td class="actions">
                {running.then(|| view! { <a class="button" href=s.url.clone() rel="external">"Open"</a> })}
                {(pending || queued).then(|| view! { <a class="button" href=s.progress_page.clone()>"Progress"</a> })}
                {(running || stuck || queued).then(|| view! {
                    <ActionForm action=stop>
                        <input type="hidden" name="name" value=name_for_stop/>
                        <button type="submit">{if queued { "Leave the queue" } else { "Stop" }}</button>
                    </ActionForm>
                })}
                {stopped.then(|| view! {
                    <ActionForm action=delete>
                        <input type="hidden" name="name" value=name_for_delete/>
                        <button type="submit">"Delete"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}
