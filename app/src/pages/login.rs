use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::ids;
use crate::session::{login_options, Login, OidcButton};

/// `/hub/login`: user name and password, and/or the OpenID Connect provider's button.
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
    let password_form = move || {
        view! {
            <ActionForm action=action>
                <label for="username">"User name"</label>
                <input id="username" name="username" type="text" autocomplete="username" required autofocus/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <input type="hidden" name="next" prop:value=next/>
                <button type="submit" class="primary" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
        }
    };
    let provider_button = move |button: OidcButton| {
        let href = move || {
            let next = next();
            if next.is_empty() {
                "/hub/oauth_login".to_owned()
            } else {
                format!("/hub/oauth_login?next={}", crate::session::encode_query_value(&next))
            }
        };
        view! {
            <div class="oidc">
                <a class="button primary" href=href rel="external" data-testid=ids::OIDC_LOGIN>{button.label}</a>
                {button.outage.map(|why| view! {
                    <p class="notice error" role="alert" data-testid=ids::OIDC_OUTAGE>
                        "The identity provider cannot be reached right now, so signing in with it will fail until it is back. (" {why} ")"
                    </p>
                })}
            </div>
        }
    };
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || options.get().map(|o| match o {
                    Ok(o) => {
                        let local = o.local;
                        let both = o.local && o.oidc.is_some();
                        view! {
                            {o.oidc.map(provider_button)}
                            {both.then(|| view! { <p class="divider muted">"or"</p> })}
                            {local.then(password_form)}
                            {o.allow_signup.then(|| view! {
                                <p class="muted">"No account yet? " <a href="/hub/signup">"Request one"</a></p>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
            {error}
        </section>
    }
}
