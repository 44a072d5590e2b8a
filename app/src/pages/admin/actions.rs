//! Running an admin action from a button: ask for confirmation when it destroys something, call
//! the server function, show its outcome (errors included), and refresh the data on success.

use std::future::Future;

use leptos::prelude::*;

use crate::error::AppError;

/// The outcome of the last action and a counter that data resources key on.
#[derive(Clone, Copy)]
pub struct ActionState {
    pub outcome: RwSignal<Option<Result<String, AppError>>>,
    pub version: RwSignal<u64>,
    pub busy: RwSignal<bool>,
}

impl ActionState {
    pub fn new() -> Self {
        Self { outcome: RwSignal::new(None), version: RwSignal::new(0), busy: RwSignal::new(false) }
    }

    /// Runs `call` (after `confirm` said yes, when given) and records its outcome.
    pub fn run<F>(self, confirm: Option<String>, call: F)
    where
        F: Future<Output = Result<String, AppError>> + 'static,
    {
        if let Some(question) = confirm {
            if !confirmed(&question) {
                return;
            }
        }
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            let result = call.await;
            if result.is_ok() {
                self.version.update(|v| *v += 1);
            }
            self.outcome.set(Some(result));
            self.busy.set(false);
        });
    }

    pub fn outcome_signal(self) -> Signal<Option<Result<String, AppError>>> {
        self.outcome.into()
    }
}

/// The browser's own confirmation dialog.
pub fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// Splits a list of names typed one per line, or separated by commas or spaces.
#[cfg(any(feature = "ssr", test))]
pub fn split_names(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::split_names;

    #[test]
    fn splits_on_lines_commas_and_spaces() {
        assert_eq!(split_names("ann, bob\ncarl  dora,,\n"), vec!["ann", "bob", "carl", "dora"]);
        assert!(split_names(" \n ,").is_empty());
    }
}
