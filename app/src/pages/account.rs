use leptos::prelude::*;

use crate::components::form_message::FormMessage;
use crate::session::ChangePassword;

/// `/hub/account`: the signed-in user's own settings.
#[component]
pub fn AccountPage() -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let result = Signal::derive(move || action.value().get());
    view! {
        <section class="card narrow">
            <h1>"Change your password"</h1>
            <ActionForm action=action>
                <label for="current">"Current password"</label>
                <input id="current" name="current" type="password" autocomplete="current-password" required/>
                <label for="new">"New password"</label>
                <input id="new" name="new" type="password" autocomplete="new-password" required/>
                <label for="confirm">"New password again"</label>
                <input id="confirm" name="confirm" type="password" autocomplete="new-password" required/>
                <button type="submit" class="primary">"Change password"</button>
            </ActionForm>
            <FormMessage result/>
        </section>
    }
}
