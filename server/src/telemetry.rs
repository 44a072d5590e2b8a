//! Logging set-up. `RUST_LOG` filters (default `info`); `[log] format` picks readable lines or
//! JSON objects. Never log secrets, cookies or bodies.
//!
//! The log starts as text before the configuration is read (so a configuration error is still
//! reported); [`set_format`] switches it once the configuration says otherwise.

use std::sync::OnceLock;

use hub::config::LogFormat;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type Output = Box<dyn Layer<Registry> + Send + Sync>;

static OUTPUT: OnceLock<reload::Handle<Output, Registry>> = OnceLock::new();

fn output(format: LogFormat) -> Output {
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    match format {
        LogFormat::Text => layer.boxed(),
        // One object per line: the event's fields flattened, the spans' fields (user.name,
        // server.name, …) under "span" and "spans".
        LogFormat::Json => {
            layer.json().flatten_event(true).with_current_span(true).with_span_list(true).boxed()
        }
    }
}

/// Installs the log as text, or as `GANYMEDE_LOG__FORMAT` says when that is `json`.
pub fn init() {
    let early = match std::env::var("GANYMEDE_LOG__FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let (layer, handle) = reload::Layer::new(output(early));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    if tracing_subscriber::registry().with(layer).with(filter).try_init().is_ok() {
        let _ = OUTPUT.set(handle);
    }
}

/// Switches the log to `format` (the configuration's `[log] format`).
pub fn set_format(format: LogFormat) {
    if let Some(handle) = OUTPUT.get() {
        let _ = handle.modify(|layer| *layer = output(format));
    }
}
