//! What `#[handler]` generates, option by option, written out as hand-written Rust.
//!
//! There is no magic: the attribute leaves your function as it is and adds a `main` that
//! calls the pieces below, through `lambda_thaw::__private` (not a stable API) with
//! absolute paths.
//!
//! # `#[handler(init = setup)]` — the default
//!
//! The generated `main` is a [`Builder`](crate::Builder), as you would write it by hand:
//!
//! ```text
//! fn main() -> ExitCode {
//!     // checks at your tokens (below), then:
//!     Checked
//!         .builder(
//!             Options { handler_name: "handle", init_name: Some("setup"), lazy: false,
//!                       early_return: true, deadline_margin_ms: None, metrics: None },
//!             || async { setup().await.into_init_result("setup") },   // -> Result<Pool, InitError>
//!             /* shutdown: */ Close::close for the pool, or None
//!         )                                      // a lambda_thaw::Builder<Pool>
//!         // .tracing(path) / .without_tracing() / .current_thread_runtime()
//!         // / .worker_threads(n) / .layer(path()) — as the attribute asks
//!         .run(|event: LambdaEvent<Order>, pool: &'static Pool| handle(event, pool))
//! }
//! ```
//!
//! `Builder::run` is the only generic code your crate compiles: it puts the state in a
//! cell allocated once for the process, and erases the types — per invocation it
//! deserializes the event (an event that does not fit is a `lambda_thaw::InvalidEvent`
//! answer naming the field), gets the state, calls `handle`, and serializes the response.
//! Everything else runs in lambda-thaw's own invocation loop, compiled once with the
//! crate (`runtime/src/lifecycle/`):
//!
//! 1. tracing compatible with `lambda_runtime`'s, and a multi-threaded tokio runtime;
//! 2. eager init, in Lambda's INIT phase, before the first `GET /invocation/next`: errors
//!    *and panics* are POSTed to `/2018-06-01/runtime/init/error` (password-redacted) as
//!    `lambda_thaw::InitError` / `lambda_thaw::InitPanic`, and the process exits;
//! 3. one worker per `AWS_LAMBDA_MAX_CONCURRENCY`, each: `GET next` → read the headers
//!    (an unreadable one is answered as `lambda_thaw::MalformedHeader`; a deadline that is
//!    not one is no deadline) → the handler under the deadline guard, a panic caught →
//!    `POST response|error` → the deferred work, bounded by the deadline → `GET next`.
//!    `lambda_runtime`'s `TracingLayer` wraps each invocation, as it does there.
//!
//! `setup` may also be a plain `fn`, and may return the state itself instead of a
//! `Result`: the expansion asks the compiler which (by method resolution on the value the
//! call produced) and awaits only a future.
//!
//! # `lazy`
//!
//! No init before the loop; the shim builds the state on first use, under that
//! invocation's deadline guard (an init that cannot finish in time fails the invocation
//! with `lambda_thaw::DeadlineExceeded`, never the environment). Concurrent first
//! invocations share one attempt — and its failure; a failure is not cached, so the next
//! invocation tries again. By hand, with a [`StateCell`](crate::StateCell):
//!
//! ```
//! # use lambda_thaw::{Error, StateCell};
//! # struct Pool;
//! # async fn setup() -> Result<Pool, Error> { Ok(Pool) }
//! static STATE: StateCell<Pool> = StateCell::new();
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let pool = STATE
//!     .get_or_init("setup", || async {
//!         setup().await.map_err(|e| lambda_thaw::InitError { error_type: "lambda_thaw::InitError".into(), message: e.to_string() })
//!     })
//!     .await?;
//! # Ok::<(), lambda_thaw::InitError>(())
//! # }).unwrap();
//! ```
//!
//! # `early_return = false`
//!
//! The work deferred so far runs *before* the response is posted, so the response waits
//! for it — Node's `callbackWaitsForEmptyEventLoop = true`. With the default, the same
//! work runs after the response is posted and before the next `GET next`.
//!
//! # `deadline_margin = "…"`
//!
//! The handler's future is raced against a timer set `margin` before the invocation's
//! deadline (never earlier than half the time left). A handler that finishes on its first
//! poll never sets the timer. When the timer wins, the handler's future is dropped — an
//! sqlx `Transaction` in it rolls back — its deferred work is discarded, and the
//! invocation answers `lambda_thaw::DeadlineExceeded`.
//!
//! # `shutdown = close`
//!
//! While init runs, the runtime registers an internal extension (so Lambda sends SIGTERM
//! at shutdown). On SIGTERM it stops taking events, lets invocations in flight answer
//! (what still runs 360 ms after the signal is cut, rolled back and answered
//! `lambda_thaw::ShutdownCut`), then runs `close(state)` if init ran. Without `shutdown`, the same happens with
//! [`Close::close`](crate::Close) when the state type implements it (an sqlx pool does).
//!
//! # `metrics = "Orders"`
//!
//! `Options { metrics: Some("Orders"), .. }`, as [`Builder::metrics`](crate::Builder::metrics)
//! sets it. Before init the runtime checks the namespace (the attribute already did, at
//! compile time), installs its recorder for the `metrics` crate's macros, and from then on
//! each invocation collects its metrics in a batch of its own and writes them as EMF
//! documents after its response and its deferred work, before the next `GET next`.
//!
//! # `idempotent(key = "/order_id")`
//!
//! The handler takes the claim's transaction beside the state: `async fn handle(event:
//! LambdaEvent<Order>, tx: &mut sqlx::Transaction<'_, DB>, store: &S)`, where `S` is an
//! [`Idempotency<DB>`](crate::idempotency::Idempotency) or implements
//! [`HasStore<DB>`](crate::idempotency::HasStore). The function given to `run` is
//!
//! ```text
//! |event: LambdaEvent<Order>, state: &'static S| async move {
//!     let key = Key::from_pointers(&event.payload, &["/order_id"])?;  // missing: IdempotencyKeyMissing
//!     HasStore::idempotency(state)
//!         .transactional(&key, async move |tx| handle(event, tx, state).await)
//!         .await
//! }
//! ```
//!
//! — [`Idempotency::handler`](crate::idempotency::Idempotency::handler) is the same for the
//! `Builder`. The event must be `Serialize` (the key and the payload's hash come from its
//! JSON) and the response `Serialize + Deserialize` (it is stored and given to duplicates).
//! The claim's lock wait ends shortly before the deadline guard (at `deadline_margin`), so a
//! concurrent duplicate gets `lambda_thaw::IdempotencyInProgress`, not a timeout.
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
//!     // `Checked` if the three hold, else `Rejected` (a builder without bounds, so the
//!     // failed check above stays the only error). `send` checks a future is `Send`
//!     // where it is made: the handler's at its name, init's at `init = …`.
//!     Probe::<(Db, LambdaEvent<Order>, Error)>::new().entry().builder(options, init, shutdown).run(call)
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
