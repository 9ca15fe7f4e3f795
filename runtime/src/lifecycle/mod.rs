//! The invocation loop: what happens to one execution environment and to each of its
//! invocations. Compiled once, in this crate — the code `#[handler]` generates only
//! deserializes the event, calls the handler and serializes the response (the typed shim,
//! `erase.rs`), and hands that to `start` as a [`Function`](function::Function), its types
//! erased. The loop is the crate's bottom layer: it imports nothing from the modules above
//! it (see the crate's `lib.rs` for the layers).
//!
//! Read top to bottom:
//!
//! 1. `start` (`start.rs`) — the process: tracing, the tokio runtime, eager init (reported
//!    to `init/error` on failure) overlapping the shutdown extension's registration, then
//!    one worker per `AWS_LAMBDA_MAX_CONCURRENCY`.
//! 2. `worker.rs` — the loop: `GET next`, read the headers, hand the invocation to the
//!    service (tower layers such as `lambda_runtime`'s `TracingLayer` wrap it), repeat.
//!    Nothing an invocation carries ends the loop.
//! 3. `context.rs` — the headers into `lambda_runtime`'s `Context`; an unreadable header is
//!    an error answer for that request, a deadline that is not one is "no deadline".
//! 4. `invoke.rs` — one invocation: its scope (`scope.rs`: defer queue, deadline, idle gap),
//!    the handler under the deadline guard (`deadline.rs`) with panics caught, the answer
//!    (`respond.rs`), then the deferred work (`defer.rs`), bounded by the deadline. The
//!    same composition serves the benchmarks and `testing`.
//! 5. `errors.rs` — `errorType` names people can match on, each cause printed once.
//! 6. `shutdown.rs` — SIGTERM: stop taking events, let in-flight invocations answer, then
//!    run the hook (or [`Close`](crate::Close)), all within Lambda's shutdown budget.
//!
//! `upkeep.rs` holds lambda-thaw's own work after each invocation (the connection
//! governor's), run after the deferred work, before the next event.
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
pub(crate) mod function;
pub(crate) mod invoke;
pub(crate) mod respond;
pub(crate) mod scope;
mod shutdown;
pub(crate) mod start;
pub(crate) mod taken;
mod trace_env;
pub(crate) mod upkeep;
mod worker;
