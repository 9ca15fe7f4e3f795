//! A function that panics where it is told to: `{"panic": "…"}` in the handler,
//! `{"defer_panic": "…"}` in its deferred work (after the response), and in init while
//! `FIXTURE_INIT_PANIC` is set. Any other event is answered with the process id and the
//! invocation's number, to tell a warm environment from a new one.

use std::sync::atomic::{AtomicU64, Ordering};

use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};

/// Invocations this environment has served.
struct Served(AtomicU64);

async fn setup() -> Result<Served, Error> {
    if std::env::var_os("FIXTURE_INIT_PANIC").is_some() {
        panic!("init panicked on purpose");
    }
    Ok(Served(AtomicU64::new(0)))
}

#[handler(init = setup)]
async fn handle(event: LambdaEvent<Value>, served: &Served) -> Result<Value, Error> {
    let invocation = served.0.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(message) = event.payload["panic"].as_str() {
        panic!("{message}");
    }
    if let Some(message) = event.payload["defer_panic"].as_str() {
        let message = message.to_owned();
        lambda_thaw::defer(async move {
            if !message.is_empty() {
                panic!("{message}");
            }
        })?;
    }
    Ok(json!({ "pid": std::process::id(), "invocation": invocation }))
}
