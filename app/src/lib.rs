//! Ganymede's web UI: the shell, routes, pages and the server functions they call.
//!
//! Compiled twice: with `ssr` into the hub binary (server functions run there, against `hub`), and
//! with `hydrate` into the WASM bundle. Server-only code sits in `ssr` submodules.

pub mod components;
pub mod error;
pub mod ids;
pub mod pages;
pub mod server_phase;
pub mod session;
pub mod time;

#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::components::nav::Nav;
use crate::pages::{
    account::AccountPage,
    admin::{
        AdminAnnouncementsPage, AdminGpusPage, AdminGroupsPage, AdminLogPage, AdminOverviewPage, AdminPage,
        AdminUsagePage,
    },
    home::HomePage,
    login::LoginPage,
    not_found::NotFound,
    signup::SignupPage,
    spawn_pending::SpawnPendingPage,
    tokens::TokensPage,
    usage::UsagePage,
};

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/ganymede.css"/>
        <Title text="Ganymede"/>
        <Router>
            <Layout/>
        </Router>
    }
}

/// Inside the router: the current user (re-read on every navigation, so signing in or out shows
/// at once), the nav bar and the pages.
#[component]
fn Layout() -> impl IntoView {
    session::provide_current_user();
    view! {
        <Nav/>
        <main class="page">
            <crate::components::announcements::Announcements/>
            <Routes fallback=NotFound>
                <Route path=path!("/hub/home") view=HomePage/>
                <Route path=path!("/hub/login") view=LoginPage/>
                <Route path=path!("/hub/signup") view=SignupPage/>
                <Route path=path!("/hub/account") view=AccountPage/>
                <Route path=path!("/hub/admin") view=AdminPage/>
                <Route path=path!("/hub/admin/groups") view=AdminGroupsPage/>
                <Route path=path!("/hub/admin/gpus") view=AdminGpusPage/>
                <Route path=path!("/hub/admin/usage") view=AdminUsagePage/>
                <Route path=path!("/hub/admin/log") view=AdminLogPage/>
                <Route path=path!("/hub/admin/announcements") view=AdminAnnouncementsPage/>
                <Route path=path!("/hub/admin/overview") view=AdminOverviewPage/>
                <Route path=path!("/hub/usage") view=UsagePage/>
                <Route path=path!("/hub/token") view=TokensPage/>
                <Route path=path!("/hub/spawn-pending/:user") view=SpawnPendingPage/>
                <Route path=path!("/hub/spawn-pending/:user/:server") view=SpawnPendingPage/>
            </Routes>
        </main>
    }
}
