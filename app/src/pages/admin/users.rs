//! `/hub/admin`: the users table (server-side search, sort, "active only", pagination) and every
//! action on users and their servers.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::actions::ActionState;
use super::{AdminTabs, Pager};
use crate::components::form_message::FormMessage;
use crate::error::AppError;
use crate::ids;
use crate::pages::home::ServerView;
use crate::server_phase::ServerPhase;
use crate::time::format_ms;

/// Page sizes the table offers.
pub const PAGE_SIZES: &[i64] = &[10, 25, 50, 100];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub is_admin: bool,
    pub approved: bool,
    pub blocked: bool,
    pub groups: Vec<String>,
    pub created_at: i64,
    pub last_activity: Option<i64>,
    pub servers: Vec<ServerView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersListing {
    pub users: Vec<UserEntry>,
    /// How many users match the search and filter (all pages).
    pub total: i64,
    /// Whether admins may open other people's servers (`servers.admin_access`).
    pub admin_access: bool,
}

/// One page of users. `sort` is `name`, `-name`, `last_activity` or `-last_activity`.
#[server(prefix = "/hub/fn", endpoint = "admin_users")]
pub async fn admin_users(
    search: String,
    sort: String,
    active_only: bool,
    page: i64,
    page_size: i64,
) -> Result<UsersListing, AppError> {
    use hub::users::{StateFilter, UserOrder, UserQuery};
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let order: UserOrder = sort.parse()?;
    if !PAGE_SIZES.contains(&page_size) {
        return Err(AppError::Invalid(format!("Page size must be one of {PAGE_SIZES:?}.")));
    }
    let query = UserQuery {
        state: if active_only { StateFilter::Active } else { StateFilter::Any },
        order,
        name_filter: Some(search),
        visible: None,
        offset: page.max(0).saturating_mul(page_size),
        limit: page_size,
    };
    let (listed, total) = hub::users::list(&hub, &query).await?;
    let rows = listed
        .into_iter()
        .map(|l| UserEntry {
            servers: l.servers.into_iter().map(|s| ServerView::from_info(l.user.name.as_str(), s)).collect(),
            name: l.user.name.to_string(),
            is_admin: l.user.is_admin,
            approved: l.user.approved,
            blocked: l.user.blocked,
            groups: l.groups,
            created_at: l.user.created_at,
            last_activity: l.user.last_activity,
        })
        .collect();
    Ok(UsersListing { users: rows, total, admin_access: hub.config().servers.admin_access })
}

/// Adds every name in `names` (one per line, or separated by commas or spaces); all are checked
/// before any is created, and names that exist already are reported, not duplicated.
#[server(prefix = "/hub/fn", endpoint = "admin_add_users")]
pub async fn admin_add_users(names: String, admin: bool) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let parsed = super::actions::split_names(&names)
        .iter()
        .map(|raw| ssr::user_name(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let done = hub::users::add(&hub, Some(actor.name.as_str()), &parsed, admin).await?;
    let mut text =
        format!("Added {}.", done.added.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", "));
    if !done.existing.is_empty() {
        let existing: Vec<&str> = done.existing.iter().map(|n| n.as_str()).collect();
        text.push_str(&format!(" Already existed: {}.", existing.join(", ")));
    }
    Ok(text)
}

#[server(prefix = "/hub/fn", endpoint = "admin_delete_user")]
pub async fn admin_delete_user(name: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let user = ssr::existing_user(&hub, &name).await?;
    hub::users::delete(&hub, Some(actor.name.as_str()), &user).await?;
    Ok(format!("Deleted {name}."))
}

#[server(prefix = "/hub/fn", endpoint = "admin_rename_user")]
pub async fn admin_rename_user(name: String, new_name: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let user = ssr::existing_user(&hub, &name).await?;
    let new = ssr::user_name(&new_name)?;
    hub::users::rename(&hub, Some(actor.name.as_str()), &user, &new).await?;
    Ok(format!("Renamed {name} to {new}."))
}

#[server(prefix = "/hub/fn", endpoint = "admin_set_admin")]
pub async fn admin_set_admin(name: String, admin: bool) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let user = ssr::existing_user(&hub, &name).await?;
    hub::users::set_admin(&hub, Some(actor.name.as_str()), &user, admin).await?;
    Ok(if admin { format!("{name} is now an admin.") } else { format!("{name} is no longer an admin.") })
}

#[server(prefix = "/hub/fn", endpoint = "admin_approve_user")]
pub async fn admin_approve_user(name: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let user = ssr::existing_user(&hub, &name).await?;
    hub::accounts::approve(&hub, Some(actor.name.as_str()), &user.name).await?;
    Ok(format!("Approved {name}."))
}

#[server(prefix = "/hub/fn", endpoint = "admin_reset_password")]
pub async fn admin_reset_password(name: String, password: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let user = ssr::existing_user(&hub, &name).await?;
    hub::accounts::set_password(
        &hub,
        Some(actor.name.as_str()),
        &hub.config().auth.local,
        &user.name,
        &password,
    )
    .await?;
    Ok(format!("Set a new password for {name}; their sessions have ended."))
}

/// `action` is `start`, `stop` or `delete`. A start reuses the server's last flavour and size, or
/// the hub's default choice.
#[server(prefix = "/hub/fn", endpoint = "admin_server_action")]
pub async fn server_action(user: String, server: String, action: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let owner = ssr::existing_user(&hub, &user).await?;
    let name = hub::domain::ServerName::parse(&server).map_err(|e| AppError::Invalid(e.to_string()))?;
    let label = if name.is_default() { format!("{user}'s default server") } else { format!("{user}/{name}") };
    let actor = Some(actor.name.as_str());
    match action.as_str() {
        "start" => {
            ssr::start(&hub, actor, &owner, &name).await?;
            Ok(format!("Starting {label}."))
        }
        "stop" => {
            hub::servers::stop(&hub, actor, &owner, &name).await?;
            Ok(format!("Stopped {label}."))
        }
        "delete" => {
            hub::servers::delete(&hub, actor, &owner, &name).await?;
            Ok(format!("Deleted {label}."))
        }
        other => Err(AppError::Invalid(format!("Unknown server action {other:?}."))),
    }
}

/// Starts the default server of each named user whose default server is stopped (the users shown
/// on the page).
#[server(prefix = "/hub/fn", endpoint = "admin_start_all")]
pub async fn admin_start_all(users: Vec<String>) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let default = hub::domain::ServerName::default_server();
    let (mut started, mut failed) = (0, Vec::new());
    for name in &users {
        let owner = ssr::existing_user(&hub, name).await?;
        let running = hub::servers::get(&hub, &owner, &default)
            .await?
            .is_some_and(|s| s.state != hub::servers::ServerState::Stopped);
        if running {
            continue;
        }
        match ssr::start(&hub, Some(actor.name.as_str()), &owner, &default).await {
            Ok(()) => started += 1,
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(format!("Starting {started} server(s)."))
    } else {
        Err(AppError::Invalid(format!("Started {started}; failed: {}", failed.join("; "))))
    }
}

/// Stops every server on the hub that is starting or running.
#[server(prefix = "/hub/fn", endpoint = "admin_stop_all")]
pub async fn admin_stop_all() -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let (mut stopped, mut failed) = (0, Vec::new());
    for (owner, server) in hub::servers::active(&hub).await? {
        match hub::servers::stop(&hub, Some(actor.name.as_str()), &owner, &server).await {
            Ok(()) => stopped += 1,
            Err(e) => failed.push(format!("{}/{server}: {e}", owner.name)),
        }
    }
    if failed.is_empty() {
        Ok(format!("Stopped {stopped} server(s)."))
    } else {
        Err(AppError::Invalid(format!("Stopped {stopped}; failed: {}", failed.join("; "))))
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use hub::accounts::User;
    use hub::domain::{ServerName, UserName};
    use hub::Hub;

    use crate::error::AppError;

    pub fn user_name(raw: &str) -> Result<UserName, AppError> {
        UserName::parse(raw).map_err(|e| AppError::Invalid(format!("{raw:?}: {e}")))
    }

    pub async fn existing_user(hub: &Hub, raw: &str) -> Result<User, AppError> {
        let name = user_name(raw)?;
        match hub::users::find(hub, &name).await? {
            Some(user) => Ok(user),
            None => Err(hub::accounts::AccountError::NoSuchUser(name).into()),
        }
    }

    /// Starts with the server's last flavour and size, else the hub's default choice.
    pub async fn start(
        hub: &Hub,
        actor: Option<&str>,
        owner: &User,
        server: &ServerName,
    ) -> Result<(), AppError> {
        hub::servers::start(hub, actor, owner, server, hub::servers::Requested::default()).await?;
        Ok(())
    }
}

/// `/hub/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let actions = ActionState::new();
    let search = RwSignal::new(String::new());
    let sort = RwSignal::new("name".to_owned());
    let active_only = RwSignal::new(false);
    let page = RwSignal::new(0_i64);
    let page_size = RwSignal::new(50_i64);
    // Bumped every two seconds while some server on the page is starting or stopping.
    let tick = RwSignal::new(0_u64);
    let listing = Resource::new(
        move || {
            (
                search.get(),
                sort.get(),
                active_only.get(),
                page.get(),
                page_size.get(),
                actions.version.get(),
                tick.get(),
            )
        },
        |(search, sort, active, page, size, _, _)| admin_users(search, sort, active, page, size),
    );
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                let busy = listing.get_untracked().and_then(Result::ok).is_some_and(|l| {
                    l.users.iter().flat_map(|u| &u.servers).any(|s| s.status.is_transitional())
                });
                if busy {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(2),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    });
    let sort_by = move |key: &'static str| {
        let next = if sort.get_untracked() == key { format!("-{key}") } else { key.to_owned() };
        sort.set(next);
        page.set(0);
    };
    let arrow = move |key: &'static str| {
        let s = sort.get();
        if s == key {
            " ▲"
        } else if s.strip_prefix('-') == Some(key) {
            " ▼"
        } else {
            ""
        }
    };
    let new_names = RwSignal::new(String::new());
    let new_admin = RwSignal::new(false);

    view! {
        <AdminTabs current="/hub/admin"/>
        <section class="card">
            <h1>"Users"</h1>
            <FormMessage result=actions.outcome_signal()/>
            <details class="add-users">
                <summary>"Add users"</summary>
                <form on:submit=move |ev| {
                    ev.prevent_default();
                    let names = new_names.get_untracked();
                    let admin = new_admin.get_untracked();
                    actions.run(None, async move {
                        let done = admin_add_users(names, admin).await;
                        if done.is_ok() {
                            new_names.set(String::new());
                        }
                        done
                    });
                }>
                    <label for="new-users">"User names (one per line, or separated by commas)"</label>
                    <textarea id="new-users" rows="3" data-testid=ids::ADMIN_NEW_USERS
                        prop:value=move || new_names.get()
                        on:input=move |ev| new_names.set(event_target_value(&ev))></textarea>
                    <label class="inline">
                        <input type="checkbox" data-testid=ids::ADMIN_NEW_ADMIN
                            prop:checked=move || new_admin.get()
                            on:change=move |ev| new_admin.set(event_target_checked(&ev))/>
                        " Administrators"
                    </label>
                    <button type="submit" class="secondary" data-testid=ids::ADMIN_ADD_USERS>"Add users"</button>
                </form>
            </details>
            <div class="toolbar">
                <input type="search" placeholder="Search by name" aria-label="Search by name"
                    data-testid=ids::ADMIN_SEARCH
                    prop:value=move || search.get()
                    on:input=move |ev| { search.set(event_target_value(&ev)); page.set(0); }/>
                <label class="inline">
                    <input type="checkbox" data-testid=ids::ADMIN_ACTIVE_ONLY
                        prop:checked=move || active_only.get()
                        on:change=move |ev| { active_only.set(event_target_checked(&ev)); page.set(0); }/>
                    " Active only"
                </label>
                <label class="inline">"Per page "
                    <select data-testid=ids::ADMIN_PAGE_SIZE on:change=move |ev| {
                        if let Ok(n) = event_target_value(&ev).parse::<i64>() { page_size.set(n); page.set(0); }
                    }>
                        {PAGE_SIZES.iter().map(|n| view! {
                            <option value=n.to_string() selected=*n == 50>{n.to_string()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <span class="spacer"></span>
                <button class="secondary" data-testid=ids::ADMIN_START_ALL on:click=move |_| {
                    let names: Vec<String> = listing.get_untracked()
                        .and_then(Result::ok)
                        .map(|l| l.users.into_iter().map(|u| u.name).collect())
                        .unwrap_or_default();
                    let question = format!("Start the default server of the {} user(s) on this page?", names.len());
                    actions.run(Some(question), admin_start_all(names));
                }>"Start all"</button>
                <button class="danger" data-testid=ids::ADMIN_STOP_ALL on:click=move |_| {
                    actions.run(Some("Stop every running server on the hub?".into()), admin_stop_all());
                }>"Stop all"</button>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || listing.get().map(|r| match r {
                    Ok(l) => {
                        let first = page.get_untracked() * page_size.get_untracked();
                        let shown = l.users.len() as i64;
                        let total = l.total;
                        let admin_access = l.admin_access;
                        view! {
                            <table class="table admin-users" data-testid=ids::ADMIN_USERS>
                                <thead><tr>
                                    <th scope="col"><button class="sort" data-testid=ids::ADMIN_SORT_NAME on:click=move |_| sort_by("name")>
                                        "Name"{move || arrow("name")}</button></th>
                                    <th scope="col">"Groups"</th>
                                    <th scope="col"><button class="sort" data-testid=ids::ADMIN_SORT_ACTIVITY on:click=move |_| sort_by("last_activity")>
                                        "Last activity"{move || arrow("last_activity")}</button></th>
                                    <th scope="col">"Servers"</th>
                                    <th scope="col">"Actions"</th>
                                </tr></thead>
                                <tbody>
                                    {l.users.into_iter().map(|u| view! { <UserRow user=u actions=actions admin_access=admin_access/> }).collect_view()}
                                </tbody>
                            </table>
                            <Pager page=page first=first shown=shown total=total empty="No users match."/>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// One user: flags, groups, activity, servers with their actions, and the user actions.
#[component]
fn UserRow(user: UserEntry, actions: ActionState, admin_access: bool) -> impl IntoView {
    let name = user.name.clone();
    let status = if user.blocked {
        Some("blocked")
    } else if !user.approved {
        Some("pending approval")
    } else {
        None
    };
    let n = name.clone();
    let toggle_admin = move |_| {
        let admin = !user.is_admin;
        let question = (!admin).then(|| format!("Revoke {n}'s admin rights?"));
        actions.run(question, admin_set_admin(n.clone(), admin));
    };
    // Rename and password reset open a small form under the row.
    let editing = RwSignal::new(None::<Edit>);
    let rename = move |_| editing.set(Some(Edit::Rename));
    let reset = move |_| editing.set(Some(Edit::Password));
    let n = name.clone();
    let delete = move |_| {
        actions.run(
            Some(format!("Delete {n}? Their servers stop; their home volume stays.")),
            admin_delete_user(n.clone()),
        );
    };
    let n = name.clone();
    let approve = move |_| actions.run(None, admin_approve_user(n.clone()));
    let has_default = user.servers.iter().any(|s| s.name.is_empty());
    let n = name.clone();
    let start_default = move |_| actions.run(None, server_action(n.clone(), String::new(), "start".into()));
    view! {
        <tr data-user=name.clone()>
            <td>
                <strong>{name.clone()}</strong>
                {user.is_admin.then(|| view! { " " <span class="badge" data-testid=ids::ADMIN_BADGE>"admin"</span> })}
                {status.map(|s| view! { " " <span class="badge muted">{s}</span> })}
            </td>
            <td>{user.groups.join(", ")}</td>
            <td>{user.last_activity.map(format_ms).unwrap_or_else(|| "never".into())}</td>
            <td>
                <ul class="server-list">
                    {user.servers.into_iter().map(|s| view! {
                        <ServerItem user=name.clone() server=s actions=actions admin_access=admin_access/>
                    }).collect_view()}
                    {(!has_default).then(|| view! {
                        <li><button class="small" data-action="start-server" on:click=start_default>"Start server"</button></li>
                    })}
                </ul>
            </td>
            <td><div class="row-actions">
                {(!user.approved).then(|| view! { <button class="small" data-action="approve" on:click=approve>"Approve"</button> })}
                <button class="small" data-action="toggle-admin" on:click=toggle_admin>
                    {if user.is_admin { "Revoke admin" } else { "Make admin" }}
                </button>
                <button class="small" data-action="rename" on:click=rename>"Rename"</button>
                <button class="small" data-action="reset-password" on:click=reset>"Reset password"</button>
                <button class="small danger" data-action="delete" on:click=delete>"Delete"</button>
            </div></td>
        </tr>
        {move || editing.get().map(|edit| view! { <EditRow user=name.clone() edit=edit editing=editing actions=actions/> })}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Rename,
    Password,
}

/// The inline form for renaming a user or setting their password.
#[component]
fn EditRow(user: String, edit: Edit, editing: RwSignal<Option<Edit>>, actions: ActionState) -> impl IntoView {
    let value = RwSignal::new(if edit == Edit::Rename { user.clone() } else { String::new() });
    let (label, input_type, button) = match edit {
        Edit::Rename => (format!("New name for {user}"), "text", "Rename"),
        Edit::Password => (format!("New password for {user}"), "password", "Set password"),
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (user, value) = (user.clone(), value.get_untracked());
        actions.run(None, async move {
            let done = match edit {
                Edit::Rename => admin_rename_user(user, value).await,
                Edit::Password => admin_reset_password(user, value).await,
            };
            if done.is_ok() {
                editing.set(None);
            }
            done
        });
    };
    view! {
        <tr class="edit-row">
            <td colspan="5">
                <form class="inline-edit" on:submit=submit>
                    <label>{label}
                        <input type=input_type required autocomplete="off" data-testid=ids::ADMIN_EDIT_VALUE
                            prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                    </label>
                    <button type="submit" class="small">{button}</button>
                    <button type="button" class="small" on:click=move |_| editing.set(None)>"Cancel"</button>
                </form>
            </td>
        </tr>
    }
}

#[component]
fn ServerItem(user: String, server: ServerView, actions: ActionState, admin_access: bool) -> impl IntoView {
    let label = if server.name.is_empty() { "default".to_owned() } else { server.name.clone() };
    let details = format!(
        "{} · {}{}",
        server.flavour.clone().unwrap_or_else(|| "?".into()),
        server.size.clone().unwrap_or_else(|| "?".into()),
        server.started_at.map(|t| format!(" · started {}", format_ms(t))).unwrap_or_default(),
    );
    let stopped = server.status == ServerPhase::Stopped;
    let running = server.status == ServerPhase::Running;
    let is_default = server.name.is_empty();
    let error = server.last_error.clone();
    let (name, status, url, shown) = (server.name, server.status.as_str(), server.url, label.clone());
    let name_attr = name.clone();
    let act = move |action: &'static str| {
        let (user, name, label) = (user.clone(), name.clone(), label.clone());
        move |_| {
            let question = match action {
                "stop" => Some(format!("Stop {user}'s server {label}?")),
                "delete" => Some(format!("Delete {user}'s server {label}? Its home volume stays.")),
                _ => None,
            };
            actions.run(question, server_action(user.clone(), name.clone(), action.into()));
        }
    };
    view! {
        <li data-server=name_attr data-status=status>
            <span class=format!("status {status}")>{status}</span>
            " " <strong>{shown}</strong> " " <span class="muted">{details}</span> " "
            {error.map(|e| view! { <span class="muted server-error" role="status">{e}</span> " " })}
            {(running && admin_access).then(|| view! { <a class="small" href=url.clone() target="_blank">"Open"</a> })}
            {stopped.then(|| view! { <button class="small" data-action="start" on:click=act("start")>"Start"</button> })}
            {(!stopped).then(|| view! { <button class="small" data-action="stop" on:click=act("stop")>"Stop"</button> })}
            {(!is_default).then(|| view! {
                <button class="small danger" data-action="delete-server" on:click=act("delete")>"Delete"</button>
            })}
        </li>
    }
}
