use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::ids;
use crate::session::{login_options, Login};

/// `/hub/login`: user name and password.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let options = Resource::new(|| (), |_| login_options());
    let error = move || {
        action.value().get().and_then(|r| r.err()).map(|e| {
            view! { <p class="notice error" role="alert" data-testid=ids::LOGIN_ERROR>{e.to_string()}</p> }
        })
    };
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <ActionForm action=action>
                <label for="username">"User name"</label>
                <input id="username" name="username" type="text" autocomplete="username" required autofocus/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <input type="hidden" name="next" prop:value=next/>
                <button type="submit" class="primary" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            {error}
            <Suspense fallback=|| ()>
                {move || {
                    options.get().and_then(|o| o.ok()).filter(|o| o.allow_signup).map(|_| {
                        view! { <p class="muted">"No account yet? " <a href="/hub/signup">"Request one"</a></p> }
                    })
                }}
            </Suspense>
        </section>
    }
}
