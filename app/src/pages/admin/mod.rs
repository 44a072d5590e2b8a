//! `/hub/admin…`: the admin pages (users, groups, GPUs, audit log). Only admins get here: the page guard
//! refuses others before rendering, and every server function checks again.

mod actions;
mod announcements;
mod gpus;
mod groups;
mod log;
mod overview;
mod usage;
mod users;

use leptos::prelude::*;

use crate::ids;

pub use announcements::AdminAnnouncementsPage;
pub use gpus::AdminGpusPage;
pub use groups::AdminGroupsPage;
pub use log::AdminLogPage;
pub use overview::AdminOverviewPage;
pub use usage::AdminUsagePage;
pub use users::AdminPage;

/// Previous/next buttons and "21–40 of 1000" under a paged table; `page` is zero-based.
#[component]
fn Pager(
    page: RwSignal<i64>,
    first: i64,
    shown: i64,
    total: i64,
    empty: &'static str,
    #[prop(default = "← Previous")] previous: &'static str,
    #[prop(default = "Next →")] next: &'static str,
) -> impl IntoView {
    let summary =
        if total == 0 { empty.to_owned() } else { format!("{}–{} of {}", first + 1, first + shown, total) };
    view! {
        <div class="pager">
            <button class="secondary" data-testid=ids::ADMIN_PREV disabled=first == 0
                on:click=move |_| page.update(|p| *p = (*p - 1).max(0))>{previous}</button>
            <span data-testid=ids::ADMIN_PAGE_SUMMARY>{summary}</span>
            <button class="secondary" data-testid=ids::ADMIN_NEXT disabled={first + shown >= total}
                on:click=move |_| page.update(|p| *p += 1)>{next}</button>
        </div>
    }
}

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
            {tab("/hub/admin/overview", "Overview", ids::ADMIN_TAB_OVERVIEW)}
            {tab("/hub/admin", "Users", ids::ADMIN_TAB_USERS)}
            {tab("/hub/admin/groups", "Groups", ids::ADMIN_TAB_GROUPS)}
            {tab("/hub/admin/gpus", "GPUs", ids::ADMIN_TAB_GPUS)}
            {tab("/hub/admin/usage", "Usage", ids::ADMIN_TAB_USAGE)}
            {tab("/hub/admin/announcements", "Announcements", ids::ADMIN_TAB_ANNOUNCEMENTS)}
            {tab("/hub/admin/log", "Audit log", ids::ADMIN_TAB_LOG)}
        </nav>
    }
}
