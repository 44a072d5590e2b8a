use leptos::prelude::*;

use crate::ids;
use crate::session::use_current_user;

/// `/hub/home`: the dashboard. Launching servers arrives with the spawner; until then it is the shell.
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
                            <div class="card">
                                <h2>"Your servers"</h2>
                                <p class="muted">"You have no notebook servers yet."</p>
                            </div>
                        </section>
                    }.into_any(),
                    _ => view! { <p>"Please " <a href="/hub/login">"sign in"</a> "."</p> }.into_any(),
                })
            }}
        </Transition>
    }
}
