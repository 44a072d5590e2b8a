//! `/hub/admin/groups`: create groups, edit their members, delete them.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::actions::ActionState;
use super::AdminTabs;
use crate::components::form_message::FormMessage;
use crate::error::AppError;
use crate::ids;

/// The most groups the page lists.
#[cfg(feature = "ssr")]
pub const MAX_GROUPS: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsListing {
    pub groups: Vec<GroupView>,
    /// The OpenID Connect provider owns memberships (`auth.oidc.manage_groups`): read-only here.
    pub managed_by_provider: bool,
}

#[server(prefix = "/hub/fn", endpoint = "admin_groups")]
pub async fn admin_groups() -> Result<GroupsListing, AppError> {
    crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let groups = hub::groups::list(&hub, 0, MAX_GROUPS)
        .await?
        .into_iter()
        .map(|g| GroupView { name: g.name, members: g.members })
        .collect();
    Ok(GroupsListing { groups, managed_by_provider: ssr::managed_by_provider(&hub) })
}

#[server(prefix = "/hub/fn", endpoint = "admin_create_group")]
pub async fn admin_create_group(name: String, members: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let group = hub::domain::GroupName::parse(&name).map_err(|e| AppError::Invalid(e.to_string()))?;
    let users = ssr::users(&hub, &members).await?;
    hub::groups::create(&hub, Some(actor.name.as_str()), &group, &users).await?;
    Ok(format!("Created group {group}."))
}

#[server(prefix = "/hub/fn", endpoint = "admin_set_group_members")]
pub async fn admin_set_group_members(name: String, members: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    let users = ssr::users(&hub, &members).await?;
    hub::groups::set_members(&hub, Some(actor.name.as_str()), &name, &users).await?;
    Ok(format!("Saved the members of {name}."))
}

#[server(prefix = "/hub/fn", endpoint = "admin_delete_group")]
pub async fn admin_delete_group(name: String) -> Result<String, AppError> {
    let actor = crate::session::ssr::require_admin().await?;
    let hub = crate::state::hub()?;
    hub::groups::delete(&hub, Some(actor.name.as_str()), &name).await?;
    Ok(format!("Deleted group {name}."))
}

#[cfg(feature = "ssr")]
mod ssr {
    use hub::accounts::User;
    use hub::domain::UserName;
    use hub::Hub;

    use super::super::actions::split_names;
    use crate::error::AppError;

    pub fn managed_by_provider(hub: &Hub) -> bool {
        hub::groups::managed_by_provider(hub)
    }

    /// The users a members field names; an invalid or unknown name fails the whole change.
    pub async fn users(hub: &Hub, text: &str) -> Result<Vec<User>, AppError> {
        let mut out = Vec::new();
        for raw in split_names(text) {
            let name = UserName::parse(&raw).map_err(|e| AppError::Invalid(format!("{raw:?}: {e}")))?;
            let user = hub::users::find(hub, &name)
                .await?
                .ok_or_else(|| AppError::Invalid(format!("There is no user named {name}.")))?;
            out.push(user);
        }
        Ok(out)
    }
}

#[component]
pub fn AdminGroupsPage() -> impl IntoView {
    let actions = ActionState::new();
    let groups = Resource::new(move || actions.version.get(), |_| admin_groups());
    let new_name = RwSignal::new(String::new());
    let new_members = RwSignal::new(String::new());
    let create_form = move || {
        view! {
            <form class="group-new" on:submit=move |ev| {
                ev.prevent_default();
                let (name, members) = (new_name.get_untracked(), new_members.get_untracked());
                actions.run(None, async move {
                    let done = admin_create_group(name, members).await;
                    if done.is_ok() {
                        new_name.set(String::new());
                        new_members.set(String::new());
                    }
                    done
                });
            }>
                <label for="group-name">"New group"</label>
                <input id="group-name" type="text" data-testid=ids::ADMIN_GROUP_NAME
                    prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev))/>
                <label for="group-members">"Members (optional)"</label>
                <input id="group-members" type="text" placeholder="ann, bob"
                    prop:value=move || new_members.get() on:input=move |ev| new_members.set(event_target_value(&ev))/>
                <button type="submit" class="secondary" data-testid=ids::ADMIN_GROUP_CREATE>"Create group"</button>
            </form>
        }
    };
    view! {
        <AdminTabs current="/hub/admin/groups"/>
        <section class="card">
            <h1>"Groups"</h1>
            <FormMessage result=actions.outcome_signal()/>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || groups.get().map(|r| match r {
                    Ok(list) => {
                        let read_only = list.managed_by_provider;
                        let empty = list.groups.is_empty();
                        let table = (!empty).then(|| view! {
                            <table class="table" data-testid=ids::ADMIN_GROUPS>
                                <thead><tr><th scope="col">"Group"</th><th scope="col">"Members"</th><th scope="col"></th></tr></thead>
                                <tbody>{list.groups.into_iter().map(|g| view! { <GroupRow group=g actions=actions read_only=read_only/> }).collect_view()}</tbody>
                            </table>
                        });
                        view! {
                            {read_only.then(|| view! {
                                <p class="notice" data-testid=ids::ADMIN_GROUPS_MANAGED>
                                    "Groups come from the identity provider: memberships follow its groups claim at every sign-in, so they are read-only here."
                                </p>
                            })}
                            {(!read_only).then(create_form)}
                            {table}
                            {empty.then(|| view! { <p class="muted">"No groups yet."</p> })}
                        }.into_any()
                    }
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn GroupRow(group: GroupView, actions: ActionState, read_only: bool) -> impl IntoView {
    let members = RwSignal::new(group.members.join(", "));
    let name = group.name.clone();
    let n = name.clone();
    let save = move |_| actions.run(None, admin_set_group_members(n.clone(), members.get_untracked()));
    let n = name.clone();
    let delete = move |_| {
        actions.run(Some(format!("Delete group {n}? Its members stay.")), admin_delete_group(n.clone()));
    };
    if read_only {
        return view! {
            <tr data-group=name.clone()>
                <td><strong>{name.clone()}</strong></td>
                <td>{members.get_untracked()}</td>
                <td></td>
            </tr>
        }
        .into_any();
    }
    view! {
        <tr data-group=name.clone()>
            <td><strong>{name.clone()}</strong></td>
            <td>
                <input type="text" class="members" aria-label=format!("Members of {name}")
                    prop:value=move || members.get() on:input=move |ev| members.set(event_target_value(&ev))/>
            </td>
            <td><div class="row-actions">
                <button class="small" data-action="save-members" on:click=save>"Save members"</button>
                <button class="small danger" data-action="delete-group" on:click=delete>"Delete"</button>
            </div></td>
        </tr>
    }
    .into_any()
}
