//! A local AWS Lambda for tests, benchmarks and people: the Runtime and Extensions APIs
//! served to a real function process, with the lifecycle Lambda imposes on it.
//!
//! * **Init**: the process starts with the environment `lambda_runtime` requires and its
//!   own loopback server as `AWS_LAMBDA_RUNTIME_API`; init lasts until the runtime and every
//!   registered extension wait in `next`. An `init/error` report, an exit before the first
//!   `next` (`Runtime.ExitError`) or an init timeout fails the start.
//! * **Invoke**: the event is handed out with a deadline; the record keeps when it was
//!   handed out, when the response was posted (what the caller waits for) and when the
//!   invocation was *complete* (runtime and INVOKE-subscribed extensions back in `next`).
//! * **Freeze**: once nothing is in flight the process is stopped (SIGSTOP) and resumed
//!   (SIGCONT) for the next invocation, so the world's time passes and the function's does
//!   not — connections die, timers do not fire, work left running is stopped half-way.
//! * **Deadline**: past it the invocation is a timeout and the process is killed; the next
//!   invocation is a cold start.
//! * **Shutdown**: SHUTDOWN to extensions that asked for it, SIGTERM when any extension is
//!   registered, SIGKILL after the grace period.
//! * **Fleet**: many environments fed from one event source.
//! * **Scaling**: environments started as open-loop arrivals need them, within reserved
//!   concurrency and Lambda's scaling rate, throttled beyond, reclaimed when idle
//!   ([`scaling`]).
//! * **Metrics**: the CloudWatch EMF documents the function prints, checked against the
//!   specification and gathered over a run ([`emf`]).
//!
//! ```no_run
//! # async fn demo() {
//! use lambda_thaw_emulator::{Environment, FunctionConfig};
//!
//! let env = Environment::new(FunctionConfig::new("target/debug/echo"));
//! let record = env.invoke(r#"{"hello":"world"}"#).await;
//! assert!(record.outcome.is_response());
//! env.shutdown().await;
//! # }
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod cargo;
pub mod cli;
mod cli_delivery;
mod config;
pub mod delivery;
pub mod emf;
mod environment;
mod events;
mod fleet;
pub mod limits;
mod logs;
mod outcome;
mod process;
mod report;
pub mod scaling;
mod server;
pub mod sqs;
mod state;
pub mod timeline;

pub use config::FunctionConfig;
pub use environment::Environment;
pub use events::{EventSourceError, read_json_lines, repeat_event};
pub use fleet::Fleet;
pub use logs::{LogLine, Logs, Stream};
pub use outcome::{
    FunctionError, InitReport, InvocationRecord, Outcome, ProcessEnd, ShutdownReport,
    all_in_flight_together,
};
pub use report::{Summary, percentile_ms, summary_text, table_header, table_row};
