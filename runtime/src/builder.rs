//! [`Builder`]: everything `#[handler]` gives, without the macro.

use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent};
use serde::{Deserialize, Serialize};

use crate::close::Close;
use crate::erase::{self, SharedInit, ShutdownHook};
use crate::init::InitError;
use crate::layer::InvocationLayer;
use crate::lifecycle::defer::{DeferredOutput, log_failure};
use crate::lifecycle::function::{Flavor, Function, Handler, Options, Setup, Tracing};
use crate::lifecycle::start::start;
use crate::state::StateCell;

/// A Lambda function with a per-environment state `S`, configured step by step and run
/// with [`Builder::run`]: everything `#[handler]` gives, without the macro — and what the
/// macro expands to, the way `#[tokio::main]` expands to `tokio::runtime::Builder`.
///
/// Each option, macro and builder side by side:
///
/// | `#[handler(...)]` | `Builder` |
/// |---|---|
/// | `init = setup` | `.init("setup", setup)` (async; `\|\| async { Ok(setup()) }` for a plain `fn`) |
/// | `lazy` | `.lazy()` |
/// | `early_return = false` | `.early_return(false)` |
/// | `deadline_margin = "1s"` | `.deadline_margin(Duration::from_secs(1))` |
/// | `shutdown = close` | `.shutdown(close)` |
/// | (a state that implements [`Close`](crate::Close)) | `.close_on_shutdown()` |
/// | `tracing = init_tracing` | `.tracing(init_tracing)`: your own subscriber instead of `lambda_runtime`'s default |
/// | `tracing = false` | `.without_tracing()` |
/// | `runtime = "current_thread"` | `.current_thread_runtime()` |
/// | `worker_threads = 2` | `.worker_threads(2)` |
/// | `layer = metrics_layer` | `.layer(metrics_layer())`: any tower layer over the invocation service (`lambda_runtime`'s `OpenTelemetryLayer`, your own) |
/// | `metrics = "Orders"` | `.metrics("Orders")` |
/// | `idempotent(key = "/order_id")` | `.run(Idempotency::<DB>::handler(&["/order_id"], \|event, tx, state\| Box::pin(handle(event, tx, state))))` (feature `idempotency`) |
/// | (the function) | `.run(handle)` / `.run_without_state(handle)` (no `init`) / `.run_http(handle)` |
///
/// The options may come in any order. What needs the state — [`shutdown`](Builder::shutdown),
/// [`close_on_shutdown`](Builder::close_on_shutdown), [`run`](Builder::run) — comes after
/// [`init`](Builder::init) (or [`without_state`](Builder::without_state)); before it, each
/// is a compile error that says so (the builder's second type parameter is where it is:
/// [`BeforeInit`], then [`WithState`]).
///
/// ```no_run
/// use std::process::ExitCode;
/// use std::time::Duration;
///
/// use lambda_thaw::{Builder, Error, LambdaEvent};
///
/// struct Db;
/// async fn setup() -> Result<Db, Error> { Ok(Db) }
/// async fn handle(event: LambdaEvent<serde_json::Value>, _db: &'static Db) -> Result<serde_json::Value, Error> {
///     Ok(event.payload)
/// }
///
/// fn main() -> ExitCode {
///     Builder::new()
///         .name("handle")
///         .init("setup", setup)
///         .deadline_margin(Duration::from_millis(300))
///         .current_thread_runtime()
///         .run(handle)
/// }
/// ```
#[must_use = "a Builder does nothing until `run`"]
pub struct Builder<S: 'static, Stage = WithState> {
    pub(crate) options: Options,
    pub(crate) init: SharedInit<S>,
    pub(crate) shutdown: Option<ShutdownHook<S>>,
    pub(crate) setup: Setup,
    stage: PhantomData<Stage>,
}

/// A [`Builder`] before [`init`](Builder::init): its options can be set, but nothing that
/// needs the state (a shutdown hook, `run`).
#[derive(Debug)]
pub struct BeforeInit;

/// A [`Builder`] whose state is settled — built by [`init`](Builder::init), or none
/// ([`without_state`](Builder::without_state)): ready for its shutdown hook and `run`.
#[derive(Debug)]
pub struct WithState;

impl Builder<(), BeforeInit> {
    /// A builder with `#[handler]`'s defaults: eager init, early return, the default
    /// deadline margin, `lambda_runtime`'s tracing, a multi-threaded runtime. Next:
    /// [`init`](Builder::init), or [`run_without_state`](Builder::run_without_state).
    pub fn new() -> Self {
        Builder {
            options: Options {
                handler_name: "handler",
                init_name: None,
                lazy: false,
                early_return: true,
                deadline_margin_ms: None,
                metrics: None,
            },
            init: Arc::new(|| Box::pin(async { Ok(()) })),
            shutdown: None,
            setup: Setup::default(),
            stage: PhantomData,
        }
    }

    /// A function without state: what [`init`](Builder::init) would be, for a handler that
    /// takes `&'static ()` — and a shutdown hook that takes it too.
    pub fn without_state(self) -> Builder<(), WithState> {
        self.into_stage()
    }

    /// Runs `handler`, a function without state (`async fn handle(event: LambdaEvent<T>)`),
    /// as this process's Lambda function until shutdown — `run` for a builder without
    /// [`init`](Builder::init), whose handler would otherwise take a `&'static ()`.
    ///
    /// ```no_run
    /// use lambda_thaw::{Builder, Error, LambdaEvent};
    ///
    /// async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    ///     Ok(event.payload)
    /// }
    ///
    /// fn main() -> std::process::ExitCode {
    ///     Builder::new().name("handle").run_without_state(handle)
    /// }
    /// ```
    pub fn run_without_state<H, HFut, A, R, E, B, St, D, SE>(self, handler: H) -> ExitCode
    where
        H: Fn(LambdaEvent<A>) -> HFut + Send + Sync + 'static,
        HFut: Future<Output = Result<R, E>> + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        A: for<'de> Deserialize<'de> + Send + 'static,
        R: IntoFunctionResponse<B, St> + Send + 'static,
        B: Serialize + Send + 'static,
        St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
        D: Into<Bytes> + Send + 'static,
        SE: Into<lambda_runtime::Error> + Send + Debug + 'static,
    {
        self.without_state()
            .run(move |event, _: &'static ()| handler(event))
    }
}

impl Default for Builder<(), BeforeInit> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Builder<S, BeforeInit> {
    /// Builds the state with `init` (named `name` in logs and errors), once per
    /// environment: in Lambda's INIT phase, or on first use with [`Builder::lazy`].
    /// The options may come before or after it; the shutdown hook and `run`, after.
    pub fn init<T, F, Fut, E>(self, name: &'static str, init: F) -> Builder<T>
    where
        T: Send + Sync + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<lambda_runtime::Error> + 'static,
    {
        let init: SharedInit<T> = Arc::new(move || {
            let attempt = init();
            Box::pin(async move { attempt.await.map_err(|e| InitError::from_error(name, e)) })
        });
        self.with_init(Some(name), init)
    }

    /// The init as the macro hands it over (errors already converted).
    pub(crate) fn with_init<T: Send + Sync + 'static>(
        self,
        name: Option<&'static str>,
        init: SharedInit<T>,
    ) -> Builder<T> {
        // Before `init` there can be no hook: `shutdown` needs the state.
        Builder {
            options: Options {
                init_name: name,
                ..self.options
            },
            init,
            shutdown: None,
            setup: self.setup,
            stage: PhantomData,
        }
    }

    /// Not yet: a shutdown hook receives the state, so it goes after
    /// [`init`](Builder::init) — this is a compile error that says so.
    pub fn shutdown<F: ShutdownAfterInit>(self, hook: F) -> Self {
        drop(hook);
        self
    }

    /// Not yet: closing needs the state, so this goes after [`init`](Builder::init) — this
    /// is a compile error that says so.
    pub fn close_on_shutdown(self) -> Self
    where
        Self: CloseAfterInit,
    {
        self
    }

    /// Not yet: the handler takes the state, so `run` goes after [`init`](Builder::init);
    /// without state, [`run_without_state`](Builder::run_without_state). This is a
    /// compile error that says so.
    pub fn run<H: RunAfterInit>(self, handler: H) -> ExitCode {
        drop(handler);
        ExitCode::FAILURE
    }
}

/// What each step leaves alone: the options, in the next stage.
impl<S, Stage> Builder<S, Stage> {
    fn into_stage<Next>(self) -> Builder<S, Next> {
        Builder {
            options: self.options,
            init: self.init,
            shutdown: self.shutdown,
            setup: self.setup,
            stage: PhantomData,
        }
    }
}

mod sealed {
    /// Implemented by nothing: the traits below can never be met.
    pub trait Never {}
}

/// A shutdown hook given before `init`: never accepted (see [`Builder::shutdown`]).
#[diagnostic::on_unimplemented(
    message = "`.shutdown(…)` goes after `.init(…)`: before it there is no state to give the hook",
    label = "given before `.init(…)`",
    note = "write `Builder::new().init(\"setup\", setup).shutdown(close)` — every option may come before or after `init`, but the hook receives the state",
    note = "a function without state: `Builder::new().without_state().shutdown(|_| async {{ … }})`"
)]
pub trait ShutdownAfterInit: sealed::Never {}

/// `close_on_shutdown` before `init`: never accepted (see [`Builder::close_on_shutdown`]).
#[diagnostic::on_unimplemented(
    message = "`.close_on_shutdown()` goes after `.init(…)`: before it there is no state to close",
    label = "called before `.init(…)`",
    note = "write `Builder::new().init(\"setup\", setup).close_on_shutdown()`"
)]
pub trait CloseAfterInit: sealed::Never {}

/// `run` before `init`: never accepted (see [`Builder::run`]).
#[diagnostic::on_unimplemented(
    message = "`.run(…)` goes after `.init(…)`: the handler takes the state that `init` builds",
    label = "called before `.init(…)`",
    note = "write `Builder::new().init(\"setup\", setup).run(handle)`; a handler without state: `Builder::new().run_without_state(handle)`"
)]
pub trait RunAfterInit: sealed::Never {}

impl<S: Send + Sync + 'static, Stage> Builder<S, Stage> {
    /// The handler's name, for logs.
    pub fn name(mut self, name: &'static str) -> Self {
        self.options.handler_name = name;
        self
    }

    /// Builds the state on the first invocation instead of in Lambda's INIT phase, under
    /// that invocation's deadline guard; concurrent first invocations share one attempt.
    pub fn lazy(mut self) -> Self {
        self.options.lazy = true;
        self
    }

    /// `false`: the response waits for deferred work (Node's default). Default `true`.
    pub fn early_return(mut self, early_return: bool) -> Self {
        self.options.early_return = early_return;
        self
    }

    /// Cancels the handler this long before the invocation's deadline and reports
    /// `lambda_thaw::DeadlineExceeded` ([`Duration::ZERO`]: no guard). Default
    /// [`DEFAULT_DEADLINE_MARGIN`](crate::DEFAULT_DEADLINE_MARGIN).
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.options.deadline_margin_ms = Some(margin.as_millis() as u64);
        self
    }

    /// CloudWatch metrics in `namespace`, written in the Embedded Metric Format after each
    /// response: the lifecycle's (`ColdStart`, `InitDuration`, `InvocationDuration`,
    /// `DeferredDuration`, `DeadlineCancelled`, `Errors` by `ErrorType`, the connections
    /// the `sqlx` helpers open, check and wait for) and whatever any crate records through
    /// the `metrics` crate's macros. Dimensions: `FunctionName` and `Service`
    /// (`POWERTOOLS_SERVICE_NAME`, else the function's name). `#[handler(metrics = "…")]`
    /// is the same. A namespace CloudWatch refuses fails init with
    /// `lambda_thaw::InvalidOption`.
    ///
    /// ```no_run
    /// # async fn handle(_: lambda_thaw::LambdaEvent<serde_json::Value>) -> Result<(), lambda_thaw::Error> { Ok(()) }
    /// lambda_thaw::Builder::new().metrics("Orders").run_without_state(handle)
    /// # ;
    /// ```
    pub fn metrics(mut self, namespace: impl Into<String>) -> Self {
        // Once per process: the option lives as long as the environment.
        self.options.metrics = Some(Box::leak(namespace.into().into_boxed_str()));
        self
    }

    /// Installs your own tracing set-up (JSON logs, OpenTelemetry, …) instead of
    /// `lambda_runtime`'s default subscriber; `setup` runs once, before the runtime starts.
    pub fn tracing(mut self, setup: impl FnOnce() + Send + 'static) -> Self {
        self.setup.tracing = Tracing::Custom(Box::new(setup));
        self
    }

    /// Installs no tracing subscriber at all.
    pub fn without_tracing(mut self) -> Self {
        self.setup.tracing = Tracing::Off;
        self
    }

    /// Runs on a current-thread tokio runtime instead of a multi-threaded one.
    pub fn current_thread_runtime(mut self) -> Self {
        self.setup.runtime = Flavor::CurrentThread;
        self
    }

    /// The multi-threaded runtime's worker count (default: one per core).
    pub fn worker_threads(mut self, workers: usize) -> Self {
        self.setup.runtime = Flavor::MultiThread(Some(workers.max(1)));
        self
    }

    /// Wraps every invocation in `layer` — outside `lambda_runtime`'s `TracingLayer`, as
    /// with `lambda_runtime::Runtime::layer`. Called again, the new layer wraps the others.
    pub fn layer<L: InvocationLayer>(mut self, layer: L) -> Self {
        self.setup
            .layers
            .push(Box::new(move |inner| layer.wrap(inner)));
        self
    }
}

impl<S: Send + Sync + 'static> Builder<S, WithState> {
    /// Runs `hook` with the state when Lambda shuts the environment down (after the
    /// invocations in flight have answered). Its error, if it returns one, is logged.
    pub fn shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce(&'static S) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: DeferredOutput,
    {
        self.shutdown = Some(Box::new(move |state| {
            let closing = hook(state);
            Box::pin(async move { log_failure(closing.await, "the shutdown hook") })
        }));
        self
    }

    /// Closes the state at shutdown with its [`Close`](crate::Close) impl (an sqlx pool has
    /// one) — what `#[handler]` does by itself when the state implements `Close` and there
    /// is no `shutdown = …`.
    pub fn close_on_shutdown(self) -> Self
    where
        S: Close,
    {
        self.shutdown(|state: &'static S| state.close())
    }

    /// Runs `handler` as this process's Lambda function until shutdown; what `main`
    /// returns. The handler takes the event and the state, `(LambdaEvent<T>, &'static S)`,
    /// in that order — the shape `#[handler]` turns every other into (a payload and a
    /// `Context`, the state first): wrap another in a closure,
    /// `.run(|event, db| handle(event.payload, db))`. Without state, see
    /// [`run_without_state`](Builder::run_without_state); HTTP handlers,
    /// `run_http` (feature `http`).
    pub fn run<H, HFut, A, R, E, B, St, D, SE>(self, handler: H) -> ExitCode
    where
        H: Fn(LambdaEvent<A>, &'static S) -> HFut + Send + Sync + 'static,
        HFut: Future<Output = Result<R, E>> + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        A: for<'de> Deserialize<'de> + Send + 'static,
        R: IntoFunctionResponse<B, St> + Send + 'static,
        B: Serialize + Send + 'static,
        St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
        D: Into<Bytes> + Send + 'static,
        SE: Into<lambda_runtime::Error> + Send + Debug + 'static,
    {
        start(self.function(handler))
    }

    /// The function `run` runs, its types erased (for benchmarks, in process).
    #[doc(hidden)]
    pub fn function<H, HFut, A, R, E, B, St, D, SE>(self, handler: H) -> Function
    where
        H: Fn(LambdaEvent<A>, &'static S) -> HFut + Send + Sync + 'static,
        HFut: Future<Output = Result<R, E>> + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        A: for<'de> Deserialize<'de> + Send + 'static,
        R: IntoFunctionResponse<B, St> + Send + 'static,
        B: Serialize + Send + 'static,
        St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
        D: Into<Bytes> + Send + 'static,
        SE: Into<lambda_runtime::Error> + Send + Debug + 'static,
    {
        let cell = erase::environment_cell::<S>();
        let handler = erase::typed_handler(self.options, cell, self.init.clone(), handler);
        self.into_function(cell, handler)
    }

    /// The function around `handler` (already typed for this state's `cell`): the init,
    /// the shutdown hook and the set-up that go with it.
    pub(crate) fn into_function(self, cell: &'static StateCell<S>, handler: Handler) -> Function {
        Function::new(
            self.options,
            erase::eager_init(self.options, cell, self.init),
            handler,
            erase::hook(cell, self.shutdown),
            self.setup,
        )
    }
}
