//! A function written the way strict codebases write them, to show that what `#[handler]`
//! generates lives with it: every lint in this crate's `[lints]` (Cargo.toml) denied, user
//! modules named `core`, `std` and `lambda_thaw`, the prelude's `Result`, `Option`, `Box`
//! and `String` shadowed, init and shutdown in another module, `lambda-thaw` reached only
//! through a re-exporting crate, and two `#[cfg]`-gated handlers of which one is compiled.

use thaw_facade::lambda_thaw::{Context, Error, handler};
use thaw_facade::serde::{Deserialize, Serialize};

// Generated code must not resolve anything through these.
mod core {}
mod std {}
mod lambda_thaw {}
#[allow(dead_code)]
type Result = ();
#[allow(dead_code)]
type Option = ();
#[allow(dead_code)]
type Box = ();
#[allow(dead_code)]
type String = ();

/// The state: built once per environment by `db::setup`.
#[cfg(not(feature = "alternative"))]
mod db {
    use ::std::sync::atomic::{AtomicU64, Ordering};

    /// Counts the invocations this environment served.
    pub(crate) struct Counter {
        pub(crate) served: AtomicU64,
        pub(crate) label: ::std::string::String,
    }

    /// Init, in another module: a plain `fn` returning the state itself.
    pub(crate) fn setup() -> Counter {
        Counter {
            served: AtomicU64::new(0),
            label: "hygienic".into(),
        }
    }

    /// Shutdown, in another module.
    pub(crate) fn close(counter: &Counter) {
        ::std::println!(
            "hygiene: closing after {} invocation(s)",
            counter.served.load(Ordering::SeqCst)
        );
    }
}

/// The event.
#[derive(Deserialize)]
#[serde(crate = "thaw_facade::serde")]
struct Ping {
    name: ::std::string::String,
}

/// The response.
#[derive(Serialize)]
#[serde(crate = "thaw_facade::serde")]
struct Pong {
    greeting: ::std::string::String,
    label: ::std::string::String,
    served: u64,
    request_id: ::std::string::String,
    handler: &'static str,
}

/// Doc comments and attributes on the handler are kept.
#[cfg(not(feature = "alternative"))]
#[handler(
    init = db::setup,
    shutdown = db::close,
    crate = "thaw_facade::lambda_thaw"
)]
#[inline(never)]
async fn handle(
    ping: Ping,
    context: Context,
    counter: &db::Counter,
) -> ::core::result::Result<Pong, Error> {
    let served = counter
        .served
        .fetch_add(1, ::std::sync::atomic::Ordering::SeqCst)
        + 1;
    ::core::result::Result::Ok(Pong {
        greeting: ::std::format!("hello, {}", ping.name),
        label: counter.label.clone(),
        served,
        request_id: context.request_id,
        handler: "default",
    })
}

/// The other handler, compiled only with the `alternative` feature.
#[cfg(feature = "alternative")]
#[handler(crate = "thaw_facade::lambda_thaw")]
async fn handle(ping: Ping, context: Context) -> ::core::result::Result<Pong, Error> {
    ::core::result::Result::Ok(Pong {
        greeting: ::std::format!("hi, {}", ping.name),
        label: ::std::string::String::new(),
        served: 0,
        request_id: context.request_id,
        handler: "alternative",
    })
}
