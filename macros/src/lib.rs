//! The `#[handler]` attribute of [lambda-thaw](https://docs.rs/lambda-thaw). Depend on
//! `lambda-thaw` and write `lambda_thaw::handler`; this crate is its implementation.
//!
//! The pipeline, one file per step: `parse.rs` reads the attribute's options, `model.rs`
//! reads the function into what the other steps need — each parameter's role (from one
//! table), the options typed, the state, the kind of event, and (`placement.rs`) an `impl`
//! around it — `check.rs` reports every misuse the model shows at the offending token, `expand.rs` writes the code (and runs the other three).
//! `written.rs` turns tokens back into text for the messages.
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod check;
mod expand;
mod model;
mod parse;
mod placement;
mod written;

use proc_macro::TokenStream;

/// Turns an `async fn` into a Lambda function: generates `main`, which builds the state
/// once per execution environment and runs the invocation loop around the handler.
///
/// ```ignore
/// use lambda_thaw::{handler, Error, LambdaEvent};
///
/// async fn setup_db() -> Result<sqlx::PgPool, Error> {
///     Ok(lambda_thaw::sqlx::connect(&std::env::var("DATABASE_URL")?).await?)
/// }
///
/// #[handler(init = setup_db)]
/// async fn handle(event: LambdaEvent<Order>, db: &sqlx::PgPool) -> Result<Receipt, Error> {
///     // …
/// }
/// ```
///
/// # The handler
///
/// A free `async fn` (not a method, not generic) returning `Result<R, E>`, where `R` is
/// `serde::Serialize` (or a `lambda_runtime::StreamResponse` to stream) and `E` converts
/// into `lambda_thaw::Error` or implements `lambda_thaw::Diagnostic` (its `errorType` is
/// kept). Its parameters, in any order, recognised by type:
///
/// | parameter | what it is |
/// |---|---|
/// | `event: LambdaEvent<T>` | the payload (any `T: Deserialize`) and the invocation's `Context` |
/// | `payload: T` | the payload alone … |
/// | `context: Context` | … and, optionally, its context |
/// | `request: Request` | an HTTP request (feature `http`): API Gateway REST/HTTP API, ALB, function URL |
/// | `state: &S` / `&'static S` | what `init` built, shared by every invocation of the environment |
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `init = path` | builds the state `S`: a function with no parameters, sync or async, returning `S` or `Result<S, E>` (`E: Into<lambda_thaw::Error>`); runs once per environment |
/// | `lazy` | run `init` on the first invocation (single flight; a failure is retried by the next one) instead of in Lambda's INIT phase |
/// | `early_return = false` | the response waits for `lambda_thaw::defer`red work (default: answered at once, the work finishes before the freeze) |
/// | `deadline_margin = "500ms"` | cancel the handler this long before the deadline and report `lambda_thaw::DeadlineExceeded` (default 500 ms; `"0"` turns it off) |
/// | `shutdown = path` | `fn(&S)`, sync or async, run on SIGTERM after the invocations in flight have answered; without it a state implementing `lambda_thaw::Close` (an sqlx pool does) is closed |
/// | `tracing = path` / `tracing = false` | a `fn()` installing your own subscriber instead of `lambda_runtime`'s default; or none |
/// | `runtime = "current_thread"` / `"multi_thread"` | the tokio runtime's flavour (default multi-threaded) |
/// | `worker_threads = N` | the multi-threaded runtime's workers (default: one per core) |
/// | `layer = path` | a `fn()` returning a tower layer over every invocation (`lambda_thaw::InvocationLayer`) |
/// | `metrics = "Namespace"` | CloudWatch metrics (EMF) in that namespace, written after each response: the lifecycle's and the `metrics` crate's (see `lambda_thaw::Builder::metrics`) |
/// | `crate = "path"` | where `lambda-thaw` is, for crates that re-export it |
///
/// One `#[handler]` per binary. A `pub` handler gets a `pub main`, so a binary can be one
/// line, `use my_lib::orders::main;`; a handler in a module of the binary needs
/// `use module::main;` at its root. Every misuse is a compile error at the offending
/// token that says how to fix it. `lambda_thaw::Builder` is the same without the macro.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(args.into(), item.into()).into()
}
