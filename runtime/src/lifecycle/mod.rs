//! The invocation loop: what happens to one execution environment and to each of its
//! invocations. Compiled once, in this crate — the code `#[handler]` generates only
//! deserializes the event, calls the handler and serializes the response (a typed shim,
//! `private/shim.rs`), and hands that to [`start`] with its types erased.
//!
//! Read top to bottom:
//!
//! 1. [`start`] (`start.rs`) — the process: tracing, the tokio runtime, eager init (reported
//!    to `init/error` on failure) overlapping the shutdown extension's registration, then
//!    one worker per `AWS_LAMBDA_MAX_CONCURRENCY`.
//! 2. `worker.rs` — the loop: `GET next`, read the headers, hand the invocation to the
//!    service (tower layers such as `lambda_runtime`'s `TracingLayer` wrap it), repeat.
//!    Nothing an invocation carries ends the loop.
//! 3. `context.rs` — the headers into `lambda_runtime`'s `Context`; an unreadable header is
//!    an error answer for that request, a deadline that is not one is "no deadline".
//! 4. `invoke.rs` — one invocation: its scope (defer queue, deadline, idle gap), the handler
//!    under the deadline guard (`deadline.rs`) with panics caught, the answer
//!    (`respond.rs`), then the deferred work (`defer.rs`), bounded by the deadline.
//! 5. `errors.rs` — `errorType` names people can match on, each cause printed once.
//! 6. `shutdown.rs` — SIGTERM: stop taking events, let in-flight invocations answer, then
//!    run the hook (or [`Close`](crate::Close)), all within Lambda's shutdown budget.
//!
//! `api.rs` speaks the Runtime and Extensions APIs; `trace_env.rs` keeps `_X_AMZN_TRACE_ID`
//! current without growing the process's memory; `taken.rs` holds the invocations taken
//! and not yet answered, so that each gets exactly one answer whoever gives it (the handler,
//! the worker for a failed layer, the panic hook of a build that aborts, `abort.rs`) and
//! shutdown can wait for them.

mod abort;
mod api;
pub(crate) mod context;
pub(crate) mod deadline;
pub(crate) mod defer;
pub(crate) mod errors;
mod invoke;
mod respond;
mod shutdown;
mod start;
mod taken;
mod trace_env;
mod worker;

use std::future::Future;
use std::pin::Pin;

use lambda_runtime::{Diagnostic, LambdaInvocation};

pub use invoke::invoke_in_process;
pub use respond::Reply;
pub(crate) use start::start;

use crate::builder::InvocationService;
use crate::init::InitError;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The handler with its types erased: the invocation in, the serialized answer out.
pub(crate) type Handler =
    Box<dyn Fn(LambdaInvocation) -> BoxFuture<Result<Reply, Diagnostic>> + Send + Sync>;

/// Eager init with its state type erased: fills the environment's state cell.
pub(crate) type EagerInit = Box<dyn FnOnce() -> BoxFuture<Result<(), InitError>> + Send>;

/// The shutdown hook with its state type erased (runs only if the state was built).
pub(crate) type Hook = Box<dyn FnOnce() -> BoxFuture<()> + Send>;

/// What `#[handler(...)]` was given, as the generated `main` passes it on.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The handler function's name, for logs.
    pub handler_name: &'static str,
    /// The init function's path as written, for logs and errors; `None` without init.
    pub init_name: Option<&'static str>,
    /// `lazy`: init on the first invocation instead of before the first `next`.
    pub lazy: bool,
    /// `early_return` (default true): post the response before running deferred work.
    pub early_return: bool,
    /// `deadline_margin` in milliseconds (0: no guard); `None`: the default,
    /// [`DEFAULT_DEADLINE_MARGIN`](crate::DEFAULT_DEADLINE_MARGIN).
    pub deadline_margin_ms: Option<u64>,
}

impl Options {
    /// The deadline margin in effect.
    pub(crate) fn margin_ms(&self) -> u64 {
        self.deadline_margin_ms
            .unwrap_or(crate::DEFAULT_DEADLINE_MARGIN.as_millis() as u64)
    }
}

/// How the process is set up around the loop: what the user may choose instead of the
/// defaults (see [`Builder`](crate::Builder)).
#[derive(Default)]
pub(crate) struct Setup {
    pub(crate) tracing: Tracing,
    pub(crate) runtime: Flavor,
    /// Tower layers over the invocation service, innermost first.
    pub(crate) layers: Vec<Box<dyn FnOnce(InvocationService) -> InvocationService + Send>>,
}

/// Which tracing subscriber the process installs.
#[derive(Default)]
pub(crate) enum Tracing {
    /// `lambda_runtime`'s default subscriber (`AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`, JSON or text).
    #[default]
    Default,
    /// None: the user installs one, or wants none.
    Off,
    /// The user's own set-up, run once before the runtime starts.
    Custom(Box<dyn FnOnce() + Send>),
}

/// Which tokio runtime the process runs on.
#[derive(Clone, Copy)]
pub(crate) enum Flavor {
    /// Multi-threaded, with this many workers (`None`: one per core).
    MultiThread(Option<usize>),
    /// Everything on the main thread.
    CurrentThread,
}

impl Default for Flavor {
    fn default() -> Self {
        Flavor::MultiThread(None)
    }
}

/// A function, its types erased: everything `start` runs.
pub struct Function {
    pub(crate) options: Options,
    pub(crate) init: Option<EagerInit>,
    pub(crate) handler: Handler,
    pub(crate) shutdown: Option<Hook>,
    pub(crate) setup: Setup,
}

impl Function {
    /// A function from its erased parts (what the generated shim builds).
    pub(crate) fn new(
        options: Options,
        init: Option<EagerInit>,
        handler: Handler,
        shutdown: Option<Hook>,
        setup: Setup,
    ) -> Self {
        Self {
            options,
            init,
            handler,
            shutdown,
            setup,
        }
    }
}
