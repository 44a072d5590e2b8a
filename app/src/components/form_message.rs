use leptos::prelude::*;

use crate::error::AppError;
use crate::ids;

/// Shows the outcome of a form's server action: the success text, or the error as an alert.
#[component]
pub fn FormMessage(result: Signal<Option<Result<String, AppError>>>) -> impl IntoView {
    move || match result.get() {
        Some(Ok(text)) => {
            view! { <p class="notice ok" role="status" data-testid=ids::FORM_MESSAGE>{text}</p> }.into_any()
        }
        Some(Err(e)) => {
            view! { <p class="notice error" role="alert" data-testid=ids::FORM_MESSAGE>{e.to_string()}</p> }
                .into_any()
        }
        None => ().into_any(),
    }
}
