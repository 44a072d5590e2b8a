use leptos::prelude::*;

use crate::components::form_message::FormMessage;
use crate::session::{login_options, Signup};

/// `/hub/signup`: request an account (when the hub allows it); an admin approves it.
#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<Signup>::new();
    let options = Resource::new(|| (), |_| login_options());
    let result = Signal::derive(move || action.value().get());
    view! {
        <section class="card narrow">
            <h1>"Request an account"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    options.get().map(|o| match o {
                        Ok(o) if o.allow_signup => view! {
                            <ActionForm action=action>
                                <label for="username">"User name"</label>
                                <input id="username" name="username" type="text" autocomplete="username" required/>
                                <label for="password">"Password"</label>
                                <input id="password" name="password" type="password" autocomplete="new-password" required/>
                                <label for="confirm">"Password again"</label>
                                <input id="confirm" name="confirm" type="password" autocomplete="new-password" required/>
                                <button type="submit" class="primary">"Request account"</button>
                            </ActionForm>
                        }.into_any(),
                        _ => view! { <p>"Sign-up is turned off on this hub. Ask an administrator for an account."</p> }.into_any(),
                    })
                }}
            </Suspense>
            <FormMessage result/>
            <p class="muted"><a href="/hub/login">"Back to sign in"</a></p>
        </section>
    }
}
