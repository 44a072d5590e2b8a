use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::ids;
use crate::time::format_ms;

/// One row of the admin users table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUserRow {
    pub name: String,
    pub is_admin: bool,
    pub approved: bool,
    pub blocked: bool,
    pub created_at: i64,
    pub last_activity: Option<i64>,
}

#[server(prefix = "/hub/fn", endpoint = "admin_list_users")]
pub async fn list_users() -> Result<Vec<AdminUserRow>, AppError> {
    crate::session::ssr::require_admin()?;
    let hub = crate::state::hub()?;
    let users = hub::accounts::list(hub.db()).await?;
    Ok(users
        .into_iter()
        .map(|u| AdminUserRow {
            name: u.name.to_string(),
            is_admin: u.is_admin,
            approved: u.approved,
            blocked: u.blocked,
            created_at: u.created_at,
            last_activity: u.last_activity,
        })
        .collect())
}

#[server(prefix = "/hub/fn", endpoint = "admin_approve_user")]
pub async fn approve_user(name: String) -> Result<(), AppError> {
    let admin = crate::session::ssr::require_admin()?;
    let hub = crate::state::hub()?;
    let name = hub::domain::UserName::parse(&name).map_err(|e| AppError::Invalid(e.to_string()))?;
    hub::accounts::approve(hub.db(), Some(admin.name.as_str()), &name).await?;
    Ok(())
}

/// `/hub/admin`: the users, with approval of pending sign-ups. Only admins get here.
#[component]
pub fn AdminPage() -> impl IntoView {
    let approve = ServerAction::<ApproveUser>::new();
    let users = Resource::new(move || approve.version().get(), |_| list_users());
    view! {
        <section class="card">
            <h1>"Users"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || users.get().map(|r| match r {
                    Ok(rows) => view! {
                        <table class="table" data-testid=ids::ADMIN_USERS>
                            <thead><tr>
                                <th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Status"</th>
                                <th scope="col">"Created"</th><th scope="col">"Last activity"</th><th scope="col"></th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|u| {
                                    let name = u.name.clone();
                                    let status = if u.blocked { "blocked" } else if u.approved { "active" } else { "pending approval" };
                                    view! {
                                        <tr data-user=u.name.clone()>
                                            <td>{u.name.clone()}</td>
                                            <td>{if u.is_admin { "admin" } else { "user" }}</td>
                                            <td>{status}</td>
                                            <td>{format_ms(u.created_at)}</td>
                                            <td>{u.last_activity.map(format_ms).unwrap_or_else(|| "never".into())}</td>
                                            <td>
                                                {(!u.approved).then(|| view! {
                                                    <ActionForm action=approve>
                                                        <input type="hidden" name="name" value=name/>
                                                        <button type="submit">"Approve"</button>
                                                    </ActionForm>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}
