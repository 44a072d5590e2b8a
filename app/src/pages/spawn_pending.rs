use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids;

/// A server's log as its owner reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    pub text: String,
    /// From the running workload (`false`: what its failed start or its death left).
    pub live: bool,
}

/// The last lines of `user`'s (`""`: the caller's) server `server`'s log (`""`: the default
/// server), for whoever may start or stop it.
#[server(prefix = "/hub/fn", endpoint = "server_log")]
pub async fn server_log(user: String, server: String) -> Result<LogView, AppError> {
    let me = crate::session::ssr::require_user()?;
    let hub = crate::state::hub()?;
    let user = if user.is_empty() { me.name.to_string() } else { user };
    let name = hub::domain::UserName::parse(&user).map_err(|e| AppError::Invalid(e.to_string()))?;
    let server = hub::domain::ServerName::parse(&server).map_err(|e| AppError::Invalid(e.to_string()))?;
    let not_found = || AppError::NotFound("No such server.".into());
    let owner = hub::users::find(&hub, &name).await?.ok_or_else(not_found)?;
    let target = hub::access::ServerRef::of(&owner, server.as_str());
    if !hub::access::may_read_log(&hub, &me, target).await? {
        return Err(not_found());
    }
    let log = hub::servers::logs::of(&hub, &owner, &server).await?;
    Ok(LogView { text: log.text, live: log.live })
}

/// The log of a server, read when asked (at once with `open`), and again on each click.
#[component]
pub fn ServerLog(user: String, server: String, #[prop(optional)] open: bool) -> impl IntoView {
    let refresh = RwSignal::new(0_u64);
    let shown = RwSignal::new(open);
    let log = Resource::new(
        move || (shown.get(), refresh.get()),
        move |(shown, _)| {
            let (user, server) = (user.clone(), server.clone());
            async move {
                if shown {
                    server_log(user, server).await.map(Some)
                } else {
                    Ok(None)
                }
            }
        },
    );
    view! {
        <div class="server-log" data-testid=ids::SERVER_LOG>
            <button type="button" class="small" on:click=move |_| {
                shown.set(true);
                refresh.update(|n| *n += 1);
            }>{move || if shown.get() { "Read the log again" } else { "Server log" }}</button>
            <Transition fallback=|| view! { <p class="muted">"Reading the log…"</p> }>
                {move || log.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(None) => ().into_any(),
                    Ok(Some(l)) if l.text.trim().is_empty() => view! { <p class="muted">"The log is empty."</p> }.into_any(),
                    Ok(Some(l)) => view! {
                        <p class="muted">{if l.live { "The last lines, as the server writes them:" } else { "What the server wrote before it stopped:" }}</p>
                        <pre class="log" data-testid=ids::SERVER_LOG_TEXT>{l.text}</pre>
                    }.into_any(),
                })}
            </Transition>
        </div>
    }
}

/// `/hub/spawn-pending/{user}[/{server}]`: a live progress bar fed by the progress event stream;
/// sends the browser to JupyterLab when the server is ready.
#[component]
pub fn SpawnPendingPage() -> impl IntoView {
    let params = use_params_map();
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let user = move || params.read().get("user").unwrap_or_default();
    let server = move || params.read().get("server").unwrap_or_default();
    let progress = RwSignal::new(0u8);
    let message = RwSignal::new("Waiting for the server…".to_owned());
    let failed = RwSignal::new(false);

    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let url = if server().is_empty() {
                format!("/hub/api/users/{}/server/progress", user())
            } else {
                format!("/hub/api/users/{}/servers/{}/progress", user(), server())
            };
            client::follow(&url, progress, message, failed);
        }
    });

    view! {
        <section class="card narrow" data-testid=ids::SPAWN_PROGRESS>
            <h1>{move || if server().is_empty() { "Starting your server".to_owned() } else { format!("Starting server {}", server()) }}</h1>
            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=move || progress.get().to_string()>
                <div class="bar" class:failed=move || failed.get() style:width=move || format!("{}%", progress.get())></div>
            </div>
            <p data-testid=ids::SPAWN_MESSAGE class:notice=move || failed.get() class:error=move || failed.get()>{move || message.get()}</p>
            {move || failed.get().then(|| view! { <ServerLog user=user() server=server() open=true/> })}
            <p class="muted"><a href="/hub/home">"Back to the dashboard"</a></p>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod client {
    use leptos::prelude::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    #[derive(serde::Deserialize)]
    struct Event {
        progress: u8,
        message: String,
        #[serde(default)]
        ready: bool,
        #[serde(default)]
        failed: bool,
        url: Option<String>,
        /// Set while the server waits in the GPU queue.
        #[serde(default)]
        queue_position: Option<usize>,
    }

    /// Asks once whether the page may notify (people wait in the GPU queue in another tab).
    fn ask_to_notify() {
        if web_sys::Notification::permission() == web_sys::NotificationPermission::Default {
            let _ = web_sys::Notification::request_permission();
        }
    }

    /// "Your server is ready", when the page may notify.
    fn notify_ready() {
        if web_sys::Notification::permission() == web_sys::NotificationPermission::Granted {
            let options = web_sys::NotificationOptions::new();
            options.set_body("Your turn came: JupyterLab is opening.");
            let _ = web_sys::Notification::new_with_options("Your server is ready", &options);
        }
    }

    /// The page's `?next=` parameter, decoded.
    fn requested_next() -> Option<String> {
        let search = web_sys::window()?.location().search().ok()?;
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
        params.get("next").filter(|n| n.starts_with('/') && !n.starts_with("//"))
    }

    pub fn follow(url: &str, progress: RwSignal<u8>, message: RwSignal<String>, failed: RwSignal<bool>) {
        let Ok(source) = web_sys::EventSource::new(url) else {
            message.set("Cannot follow the server's progress.".into());
            failed.set(true);
            return;
        };
        let source_for_close = source.clone();
        let mut waited = false;
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let Some(text) = e.data().as_string() else { return };
            let Ok(event) = serde_json::from_str::<Event>(&text) else { return };
            progress.set(event.progress);
            message.set(event.message);
            if event.queue_position.is_some() && !waited {
                waited = true;
                ask_to_notify();
            }
            if event.failed {
                failed.set(true);
                source_for_close.close();
            }
            if event.ready {
                source_for_close.close();
                if waited {
                    notify_ready();
                }
                if let Some(url) = event.url {
                    // `?next=` (from /hub/spawn or /hub/user-redirect) when it stays inside this
                    // server, else its lab.
                    let next = requested_next().filter(|n| n.starts_with(&url));
                    let target = next.unwrap_or_else(|| format!("{url}lab"));
                    // Let people see the bar full before JupyterLab replaces the page.
                    set_timeout(
                        move || {
                            if let Some(window) = web_sys::window() {
                                let _ = window.location().assign(&target);
                            }
                        },
                        std::time::Duration::from_millis(600),
                    );
                }
            }
        });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
    }
}
