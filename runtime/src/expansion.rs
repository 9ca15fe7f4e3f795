//! What `#[handler]` generates, option by option, written out as hand-written Rust.
//!
//! There is no magic: the attribute leaves your function as it is and adds a `main` that
//! calls the pieces below. The real expansion goes through `lambda_thaw::__private` (not a
//! stable API) with absolute paths; this page uses the public equivalents.
//!
//! # `#[handler(init = setup)]` — the default
//!
//! ```no_run
//! use lambda_thaw::{DeferLayer, Error, LambdaEvent, StateCell};
//! use lambda_runtime::{Runtime, layers::TracingLayer, service_fn};
//!
//! struct Pool;
//! async fn setup() -> Result<Pool, Error> { Ok(Pool) }
//! async fn handle(event: LambdaEvent<serde_json::Value>, pool: &Pool) -> Result<serde_json::Value, Error> {
//!     Ok(event.payload)
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     // One cell per execution environment: what init built, shared by every invocation.
//!     static STATE: StateCell<Pool> = StateCell::new();
//!     lambda_runtime::tracing::init_default_subscriber();
//!     let runtime = tokio::runtime::Runtime::new().unwrap();
//!     runtime.block_on(async {
//!         // Eager init, in Lambda's INIT phase, before the first `GET /invocation/next`.
//!         // Errors *and panics* become an `InitError`; lambda-thaw POSTs it to
//!         // /2018-06-01/runtime/init/error (password-redacted) before exiting.
//!         if let Err(error) = STATE.get_or_init("setup", || async {
//!             setup().await.map_err(|e| lambda_thaw::InitError { error_type: "Error".into(), message: e.to_string() })
//!         }).await {
//!             eprintln!("{error}");
//!             return std::process::ExitCode::FAILURE;
//!         }
//!         let service = service_fn(|event: LambdaEvent<serde_json::Value>| async move {
//!             let pool = STATE.get().expect("initialised above");
//!             // The deadline guard (`deadline_margin`, 500 ms by default) wraps this call.
//!             handle(event, pool).await
//!         });
//!         let result = Runtime::new(service)
//!             .layer(DeferLayer) // deferred work: after the POST, before the next GET
//!             .layer(TracingLayer::new())
//!             .run_concurrent() // AWS_LAMBDA_MAX_CONCURRENCY loops, or one
//!             .await;
//!         if result.is_ok() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
//!     })
//! }
//! ```
//!
//! `setup` may also be a plain `fn`, and may return the state itself instead of a
//! `Result`: the expansion asks the compiler which (by method resolution on the value the
//! call produced) and awaits only a future.
//!
//! # `lazy`
//!
//! No init before the loop; the service does it on first use, single flight, and a failure
//! fails only that invocation (the cell stays empty, the next invocation tries again):
//!
//! ```no_run
//! # use lambda_thaw::{Error, LambdaEvent, StateCell};
//! # struct Pool;
//! # async fn setup() -> Result<Pool, Error> { Ok(Pool) }
//! # async fn handle(event: LambdaEvent<()>, pool: &Pool) -> Result<(), Error> { Ok(()) }
//! static STATE: StateCell<Pool> = StateCell::new();
//! let service = lambda_runtime::service_fn(|event: LambdaEvent<()>| async move {
//!     let pool = STATE
//!         .get_or_init("setup", || async {
//!             setup().await.map_err(|e| lambda_thaw::InitError { error_type: "Error".into(), message: e.to_string() })
//!         })
//!         .await?;
//!     handle(event, pool).await
//! });
//! ```
//!
//! # `early_return = false`
//!
//! The service runs the work deferred so far *before* returning, so the response waits
//! for it — Node's `callbackWaitsForEmptyEventLoop = true`. With the default, the same
//! work runs in [`DeferLayer`](crate::DeferLayer) after `lambda_runtime` has POSTed the
//! response.
//!
//! # `deadline_margin = "…"`
//!
//! The handler's future is raced against a timer set `margin` before
//! `event.context.deadline` (never earlier than half the time left). A handler that
//! finishes on its first poll never sets the timer. When the timer wins, the handler's
//! future is dropped — an sqlx `Transaction` in it rolls back — its deferred work is
//! discarded, and the invocation answers `lambda_thaw::DeadlineExceeded`.
//!
//! # `shutdown = close`
//!
//! Before the loop, `lambda_runtime::spawn_graceful_shutdown_handler` registers a no-op
//! internal extension (so Lambda sends SIGTERM at shutdown) and, on SIGTERM, runs
//! `close(STATE.get())` if init ran. Without `shutdown`, the same happens with
//! [`Close::close`](crate::Close) when the state type implements it (an sqlx pool does).
//!
//! # Payload and context
//!
//! `async fn handle(order: Order, context: Context, db: &Db)` is called as
//!
//! ```text
//! |event: LambdaEvent<Order>, db: &'static Db| {
//!     let (order, context) = event.into_parts();
//!     handle(order, context, db)
//! }
//! ```
//!
//! # `crate = "path"`
//!
//! Every path above starts with `path` instead of `::lambda_thaw`.
//!
//! # Around all of it: checks, and one `main` per binary
//!
//! The body above sits in a function named after the handler, preceded by one check per
//! type you wrote, each spanned at that type so that a mistake is reported there, once:
//!
//! ```text
//! fn __lambda_thaw_main_handle() -> ExitCode {
//!     assert_event::<LambdaEvent<Order>>(); // Deserialize + Send, at `LambdaEvent<Order>`
//!     assert_state::<Db>();                 // Send + Sync + 'static, at `&Db`
//!     assert_error::<Error>();              // Into<Diagnostic>, at the `E` of `Result<R, E>`
//!     // `Checked` if the three hold, else `Rejected` (a `main` without bounds, so the
//!     // failed check above stays the only error). `send` checks a future is `Send`
//!     // where it is made: the handler's at its name, init's at `init = …`.
//!     Probe::<(Db, LambdaEvent<Order>, Error)>::new().entry().main(options, init, call, shutdown)
//! }
//!
//! mod one_handler_per_binary_move_the_others_to_src_bin {
//!     pub(crate) fn main() -> ExitCode { super::__lambda_thaw_main_handle() }
//! }
//! pub(crate) use self::one_handler_per_binary_move_the_others_to_src_bin::*;
//! ```
//!
//! The module's name is the rule: a second `#[handler]` in the binary defines it again,
//! and rustc's one error ("the name `one_handler_per_binary_move_the_others_to_src_bin` is
//! defined multiple times") points at both attributes. A handler in a module is the entry
//! point once the crate root says `use module::main;`. The module's `main` returns a type
//! of its own, so the body can ask (with a `Probe`) whether the `main` in scope is this one;
//! when a `fn main` of the user's shadows it, a deprecation warning says so in our words.
//!
//! `#[handler]` goes where items of the crate root (or a module) go, not inside a function
//! body: a module declared in a block cannot name the block's items. A doctest is such a
//! body unless it has its own `fn main`, so examples with `#[handler]` end with a hidden
//! `# fn main() {}` (which shadows the generated `main`; the example still compiles it).
