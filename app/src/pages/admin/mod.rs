//! `/hub/admin…`: the admin pages (users, groups, audit log). Only admins get here: the page guard
//! refuses others before rendering, and every server function checks again.

mod actions;
mod groups;
mod log;
mod users;

use leptos::prelude::*;

use crate::ids;

pub use groups::AdminGroupsPage;
pub use log::AdminLogPage;
pub use users::AdminPage;

/// The tabs above every admin page.
#[component]
fn AdminTabs(current: &'static str) -> impl IntoView {
    let tab = move |href: &'static str, label: &'static str, testid: &'static str| {
        let here = href == current;
        view! {
            <a href=href class:current=here aria-current=if here { Some("page") } else { None } data-testid=testid>
                {label}
            </a>
        }
    };
    view! {
        <nav class="tabs" aria-label="Administration">
            {tab("/hub/admin", "Users", ids::ADMIN_TAB_USERS)}
            {tab("/hub/admin/groups", "Groups", ids::ADMIN_TAB_GROUPS)}
            {tab("/hub/admin/log", "Audit log", ids::ADMIN_TAB_LOG)}
        </nav>
    }
}
