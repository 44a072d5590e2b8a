//! `/hub/admin/announcements`: publish a notice (Markdown) for the sign-in page, the dashboard
//! or every page, with an optional expiry; see what is up and take it down. No restart needed.

use leptos::prelude::*;

use super::actions::ActionState;
use super::AdminTabs;
use crate::components::announcements::AnnouncementView;
use crate::components::form_message::FormMessage;
use crate::error::AppError;
use crate::ids;
use crate::time::format_ms;

#[server(prefix = "/hub/fn", endpoint = "admin_announcements")]
pub async fn admin_announcements() -> Result<Vec<AnnouncementView>, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    Ok(hub::announcements::all(&hub)
        .await?
        .into_iter()
        .map(crate::components::announcements::ssr::view)
        .collect())
}

/// `expires_in_hours`: empty for never, else hours from now (fractions allowed).
#[server(prefix = "/hub/fn", endpoint = "admin_announce")]
pub async fn admin_announce(
    body: String,
    placement: String,
    expires_in_hours: String,
) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let placement =
        hub::announcements::Placement::parse(&placement).map_err(|e| AppError::Invalid(e.to_string()))?;
    let expires_at = match expires_in_hours.trim() {
        "" => None,
        hours => {
            let hours: f64 = hours
                .parse()
                .ok()
                .filter(|h: &f64| h.is_finite() && *h > 0.0 && *h <= 24.0 * 366.0)
                .ok_or_else(|| AppError::Invalid("Expires in: a number of hours, up to a year".into()))?;
            Some(hub.clock().now_ms() + (hours * 3_600_000.0) as i64)
        }
    };
    hub::announcements::create(&hub, Some(actor.name.as_str()), &body, placement, expires_at).await?;
    Ok("Published.".into())
}

#[server(prefix = "/hub/fn", endpoint = "admin_unannounce")]
pub async fn admin_unannounce(id: i64) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    hub::announcements::remove(&hub, Some(actor.name.as_str()), id).await?;
    Ok("Taken down.".into())
}

fn placement_label(placement: &str) -> &'static str {
    match placement {
        "login" => "Sign-in page",
        "dashboard" => "Dashboard",
        _ => "Every page",
    }
}

#[component]
pub fn AdminAnnouncementsPage() -> impl IntoView {
    let actions = ActionState::new();
    let list = Resource::new(move || actions.version.get(), |_| admin_announcements());
    let body = RwSignal::new(String::new());
    let placement = RwSignal::new("all".to_owned());
    let hours = RwSignal::new(String::new());
    let publish = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (b, p, h) = (body.get_untracked(), placement.get_untracked(), hours.get_untracked());
        actions.run(None, async move {
            let done = admin_announce(b, p, h).await;
            if done.is_ok() {
                body.set(String::new());
                hours.set(String::new());
            }
            done
        });
    };
    view! {
        <AdminTabs current="/hub/admin/announcements"/>
        <section class="card">
            <h1>"Announcements"</h1>
            <FormMessage result=actions.outcome_signal()/>
            <form class="announce" on:submit=publish>
                <label for="announcement-body">"Text (Markdown: **bold**, _italic_, [links](https://…), lists)"</label>
                <textarea id="announcement-body" rows="4" maxlength="4000"
                    prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                <label for="announcement-placement">"Shown on"</label>
                <select id="announcement-placement" on:change=move |ev| placement.set(event_target_value(&ev))>
                    <option value="all" selected=true>"Every page"</option>
                    <option value="login">"Sign-in page"</option>
                    <option value="dashboard">"Dashboard"</option>
                </select>
                <label for="announcement-hours">"Expires in (hours; empty: until taken down)"</label>
                <input id="announcement-hours" type="number" min="0" step="any"
                    prop:value=move || hours.get() on:input=move |ev| hours.set(event_target_value(&ev))/>
                <button type="submit" class="primary">"Publish"</button>
            </form>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No announcements."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid=ids::ADMIN_ANNOUNCEMENTS>
                            <thead><tr>
                                <th scope="col">"Announcement"</th><th scope="col">"Shown on"</th>
                                <th scope="col">"Published"</th><th scope="col">"Expires"</th><th scope="col"></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|a| {
                                    let id = a.id;
                                    let remove = move |_| actions.run(Some("Take this announcement down?".into()), admin_unannounce(id));
                                    let by = a.created_by.clone().map(|b| format!(" by {b}")).unwrap_or_default();
                                    view! {
                                        <tr data-id=id.to_string()>
                                            <td><div class="announcement" inner_html=a.html></div></td>
                                            <td>{placement_label(&a.placement)}</td>
                                            <td>{format!("{}{by}", format_ms(a.created_at))}</td>
                                            <td>{a.expires_at.map(format_ms).unwrap_or_else(|| "never".into())}</td>
                                            <td><button class="small danger" on:click=remove>"Take down"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
