use leptos::prelude::*;

use crate::ids;
use crate::session::{use_current_user, Logout};

/// The top bar: brand, page links, the signed-in user's name and a sign-out button.
#[component]
pub fn Nav() -> impl IntoView {
    let user = use_current_user();
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/hub/home">"Ganymede"</a>
            <Transition fallback=|| ()>
                {move || {
                    user.get()
                        .and_then(|r| r.ok())
                        .flatten()
                        .map(|u| {
                            view! {
                                <nav class="links" aria-label="Main">
                                    <a href="/hub/home">"Home"</a>
                                    <a href="/hub/usage">"Usage"</a>
                                    <a href="/hub/token">"Tokens"</a>
                                    <a href="/hub/account">"Account"</a>
                                    <Show when=move || u.is_admin>
                                        <a href="/hub/admin">"Admin"</a>
                                    </Show>
                                </nav>
                                <span class="who" data-testid=ids::NAV_USER>{u.name.clone()}</span>
                                <ActionForm action=logout>
                                    <button type="submit" class="link-button" data-testid=ids::NAV_LOGOUT>"Sign out"</button>
                                </ActionForm>
                            }
                        })
                }}
            </Transition>
        </header>
    }
}
