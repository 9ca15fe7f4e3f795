//! # lambda-thaw
//!
//! AWS Lambda handlers whose per-environment resources are built once, outside the
//! handler, and whose responses never wait for what need not delay them.
//!
//! ```no_run
//! use lambda_thaw::{handler, Error, LambdaEvent};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Order { item: String }
//! #[derive(Serialize)]
//! struct Receipt { item: String, greeting: &'static str }
//!
//! struct Config { greeting: &'static str }
//!
//! // Runs once per execution environment, before the first event (Lambda's INIT phase).
//! async fn load_config() -> Result<Config, Error> {
//!     Ok(Config { greeting: "thanks" })
//! }
//!
//! #[handler(init = load_config)]
//! async fn handle(event: LambdaEvent<Order>, config: &Config) -> Result<Receipt, Error> {
//!     Ok(Receipt { item: event.payload.item, greeting: config.greeting })
//! }
//! # fn main() {} // keeps rustdoc from wrapping the example in a function body
//! ```
//!
//! `#[handler]` generates `main`: tracing set-up compatible with `lambda_runtime`'s, the
//! [`StateCell`] holding the state (one per process), the init (eager by default, `lazy` on the first
//! invocation, single flight, failures reported to Lambda's `init/error` and never cached),
//! and the runtime loop with [`defer`]red work run after the response is posted and before
//! the environment can be frozen. The handler itself stays a plain `async fn` that tests
//! can call directly.
//!
//! ## Options
//!
//! | option | meaning |
//! |---|---|
//! | `init = path` | builds the state; sync or async; returns `S` or `Result<S, E>` with `E: Into<lambda_thaw::Error>` |
//! | `lazy` | run init on the first invocation instead of in Lambda's INIT phase |
//! | `early_return = false` | the response waits for deferred work (Node's default) |
//! | `deadline_margin = "500ms"` | cancel the handler this long before the deadline and report a timeout error (default [`DEFAULT_DEADLINE_MARGIN`]; `"0"` turns it off) |
//! | `shutdown = path` | `fn(&S)` (sync or async) run on SIGTERM at shutdown, after the invocations in flight have answered; without it, a state implementing [`Close`] (an sqlx pool does) is closed |
//! | `tracing = path` / `tracing = false` | a `fn()` that installs your own subscriber (JSON logs, OpenTelemetry) instead of `lambda_runtime`'s default; or none |
//! | `runtime = "current_thread"` / `"multi_thread"` | the tokio runtime's flavour (default multi-threaded) |
//! | `worker_threads = 2` | the multi-threaded runtime's workers (default: one per core) |
//! | `layer = path` | a `fn()` returning a tower layer over every invocation (an [`InvocationLayer`]: `lambda_runtime`'s `OpenTelemetryLayer`) |
//! | `metrics = "Namespace"` | CloudWatch metrics in the Embedded Metric Format, written after each response: the lifecycle's (`ColdStart`, `InitDuration`, `InvocationDuration`, `DeferredDuration`, `DeadlineCancelled`, `Errors`, the connections opened, checked and waited for) and any crate's through the `metrics` crate's macros (see [`Builder::metrics`]) |
//! | `idempotent(key = "/order_id")` | each event's effect once (feature `idempotency`): the handler takes `tx: &mut sqlx::Transaction<'_, DB>`, the claim's transaction, and a duplicate gets the first response; the state is the store or implements `idempotency::HasStore` |
//! | `crate = "path"` | where `lambda-thaw` is, for crates that re-export it |
//!
//! ## Without the macro, in tests, across crates
//!
//! * [`Builder`] is the same thing without the macro — `#[handler]` expands to it; its
//!   docs show each option both ways.
//! * [`testing`] calls a handler the way Lambda would: a realistic `Context`, the
//!   invocation's scope (so `defer` works), the deferred work run after the response with
//!   its outcome observable, the deadline guard if asked for, and HTTP requests shaped by
//!   API Gateway (REST and HTTP APIs), an ALB or a function URL.
//! * The state is `&'static S` if you ask for it (`db: &'static Db`): it lives as long as
//!   the environment, so it can move into [`defer`]red work, and a [`TtlCache`] inside it
//!   works as one in a `static` does.
//! * A `pub` handler has a `pub` `main`: put handlers in a library and make each binary
//!   one line, `use my_lib::handlers::orders::main;`.
//!
//! ## Coming from `DeferLayer`
//!
//! Earlier versions had `DeferLayer` to put around `lambda_runtime::Runtime`'s service. It
//! still works, deprecated: lambda-thaw now runs its own invocation loop, so `#[handler]`
//! (or [`Builder`]) gives every invocation its [`defer`] queue — run after the response and
//! before the next `GET next` — with the deadline guard and the freeze-aware idle gap that
//! a layer over `lambda_runtime`'s loop cannot give; your own tower layers go in
//! `#[handler(layer = …)]` or [`Builder::layer`].
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `sqlx` | `lambda_thaw::sqlx`: pool options for Lambda — one connection per environment, a liveness check after a freeze, acquire timeouts from the invocation's time left — `connect` with errors that name the host (password hidden), `RotatingPool` for rotated passwords and RDS IAM tokens, a back-off with a clear error when the database is at its connection limit, and the connection governor (`connect_governed`) that gives idle connections back when the server runs near its limit |
//! | `proxy` | `sqlx::proxy`: pools for a database behind RDS Proxy or PgBouncer in transaction mode (no named prepared statements, no session state) |
//! | `http` | HTTP handlers (`request: Request`) behind API Gateway, an ALB or a function URL, through `lambda_http` |
//! | `idempotency` | `lambda_thaw::idempotency`: exactly one effect per event on the function's own PostgreSQL, MySQL/MariaDB or SQLite — a claim committed with the handler's writes (transactional mode) or around them (Powertools' semantics), the first response given to duplicates |
//! | `batch` | `lambda_thaw::batch`: SQS batches with partial failures (FIFO in order), stream batches checkpointed at the first failure; `batch-kinesis`, `batch-dynamodb` add those events |
//!
//! ## Testing
//!
//! A handler stays a plain `async fn`: call it in a unit test with an event, a
//! [`Context`] and the state. When it [`defer`]s work or needs the deadline, run it inside
//! [`testing::Invocation::run`], which gives it the invocation's scope and reports what
//! became of the deferred work:
//!
//! ```
//! # use lambda_thaw::{Error, LambdaEvent};
//! # async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
//! #     lambda_thaw::defer(async { /* audit */ })?;
//! #     Ok(event.payload)
//! # }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use lambda_thaw::testing::Invocation;
//!
//! let invocation = Invocation::new();
//! let invoked = invocation.run(handle(invocation.event("hello".to_string()))).await;
//! assert_eq!(invoked.response.unwrap().unwrap(), "hello");
//! assert_eq!(invoked.deferred.len(), 1);
//! # }
//! ```
//!
//! ## Inside the crate
//!
//! For contributors: the modules import in one direction, each only from the layers below
//! it —
//! 1. `redact` and `emf/` (CloudWatch metrics), the ground;
//! 2. `lifecycle/`, the invocation loop, its types erased;
//! 3. `probe`, `init`, `state`, `close`, `requirements`, `diagnose`, `erase`, `refused`
//!    (the idempotency store's answers, named by `diagnose`) — between the user's types and
//!    the loop's (the typed shim is `erase`);
//! 4. `builder`, `layer`, `testing`, `cache`, `batch`, `sqlx/`, `idempotency/`, `http`,
//!    `expansion`, `defer_layer` — the public facade;
//! 5. `macro_glue/` (`__private`) — what the code `#[handler]` generates calls.
//!
//! One import runs up a layer: `diagnose` names `sqlx::ConnectError` in the `errorType` it
//! reports (a downcast needs the type). A name is imported from the module that defines
//! it, never through a re-export (this file's `pub use`s are for users).
//! `tests/module_graph.rs` fails on an import cycle, an import up the layers, or a name
//! taken through a re-export.
//!
//! ## The local emulator
//!
//! End to end, the `lambda-thaw-emulator` crate runs the built binary the way Lambda
//! does — the Runtime API, a freeze between invocations, deadlines, shutdown, fleets of
//! environments and Lambda's payload limits — for tests (`Environment::invoke`) and from
//! the command line; see the project's README.
#![warn(missing_docs, unreachable_pub)]
// `unsafe` only where a comment says why it is sound, each place allowed by name:
// `trace_env.rs` (the environment variable without a leak), `sqlx/closed_by_peer.rs` (the
// kernel's view of a socket) and `requirements.rs` (`SendFuture`).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
// docs.rs (nightly, `--cfg docsrs`): every feature-gated item carries its feature's badge.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, bottom first (see "Inside the crate" in the docs above).
mod emf;
mod redact;

mod lifecycle;

mod close;
mod diagnose;
mod erase;
mod init;
mod probe;
mod refused;
pub mod requirements;
mod state;

#[cfg(feature = "batch")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
pub mod batch;
mod builder;
mod cache;
mod defer_layer;
pub mod expansion;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "idempotency")]
#[cfg_attr(docsrs, doc(cfg(feature = "idempotency")))]
pub mod idempotency;
mod layer;
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub mod sqlx;
pub mod testing;

#[doc(hidden)]
#[path = "macro_glue/mod.rs"]
pub mod __private;

/// HTTP types for `#[handler]`s that take a `Request` (feature `http`): `lambda_http`.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use lambda_http;

/// For the benchmarks: one invocation of a [`Builder`]'s function in process, without the
/// HTTP. Not a stable API.
#[doc(hidden)]
pub mod __bench {
    pub use crate::lifecycle::function::Function;
    pub use crate::lifecycle::invoke::invoke_in_process;
    pub use crate::lifecycle::respond::Reply;

    /// Metrics on for this process, in `namespace`, each invocation's documents built and
    /// dropped: what metrics cost in process, without the terminal.
    pub fn enable_metrics_discarding(namespace: &str) -> Result<(), String> {
        crate::emf::install_discarding(namespace, "bench")
    }
}

pub use builder::{
    BeforeInit, Builder, CloseAfterInit, RunAfterInit, ShutdownAfterInit, WithState,
};
pub use cache::{Clock, Stamp, SystemClock, TtlCache};
pub use close::Close;
#[allow(deprecated)]
pub use defer_layer::{DeferLayer, DeferService};
pub use init::InitError;
pub use lambda_runtime::{self, Context, Diagnostic, Error, LambdaEvent};
pub use lambda_thaw_macros::handler;
pub use layer::InvocationLayer;
pub use lifecycle::deadline::DEFAULT_DEADLINE_MARGIN;
pub use lifecycle::defer::{DeferError, DeferredOutput, defer};
pub use lifecycle::function::InvocationService;
pub use lifecycle::scope::{idle_gap_before_invocation, time_left};
pub use lifecycle::start::max_concurrency;
/// The `metrics` crate, whose macros (`counter!`, `gauge!`, `histogram!`) a function with
/// metrics on (`#[handler(metrics = "…")]`, [`Builder::metrics`]) writes as CloudWatch
/// metrics after each response. Through this path, your macros and lambda-thaw's recorder
/// share one version of it.
pub use metrics;
pub use redact::redact_secrets;
#[cfg(feature = "idempotency")]
pub use refused::{IdempotencyInProgress, IdempotencyKeyMissing, IdempotencyPayloadMismatch};
pub use state::StateCell;
