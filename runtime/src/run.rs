//! The generated `main`: tracing, the tokio runtime, eager init (reported on failure),
//! and `lambda_runtime`'s loop with our invocation adapter and defer layer around it.

use std::fmt::Debug;
use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::Stream;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent, Runtime, Service};
use serde::{Deserialize, Serialize};

use crate::checks::Checked;
use crate::close::ShutdownFn;
use crate::deadline;
use crate::defer::{DeferLayer, discard_current, run_work, take_current};
use crate::init::InitError;
use crate::init_report::report_init_error;
use crate::state::StateCell;

/// What `#[handler(...)]` was given, as the generated `main` passes it on.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The handler function's name, for logs.
    pub handler_name: &'static str,
    /// The init function's path as written, for logs and errors; `""` without init.
    pub init_name: &'static str,
    /// `lazy`: init on the first invocation instead of before the first `next`.
    pub lazy: bool,
    /// `early_return` (default true): post the response before running deferred work.
    pub early_return: bool,
    /// `deadline_margin`: cancel the handler this many milliseconds before the
    /// invocation's deadline (0: never). See [`crate::DEFAULT_DEADLINE_MARGIN`].
    pub deadline_margin_ms: u64,
}

impl Checked {
    /// Runs a function until the runtime loop ends. This is the whole generated `main`.
    ///
    /// `init` builds the state (the macro wraps the user's init so it yields
    /// `Result<S, InitError>`); `handler` is the user's handler with the state reference.
    pub fn main<S, I, IFut, H, HFut, A, R, E, B, St, D, SE>(
        self,
        options: Options,
        init: I,
        handler: H,
        shutdown: Option<ShutdownFn<S>>,
    ) -> ExitCode
    where
        S: Send + Sync + 'static,
        I: Fn() -> IFut + Clone + Send + Sync + 'static,
        IFut: Future<Output = Result<S, InitError>> + Send + 'static,
        H: Fn(LambdaEvent<A>, &'static S) -> HFut + Clone + Send + Sync + 'static,
        HFut: Future<Output = Result<R, E>> + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        A: for<'de> Deserialize<'de> + Send + 'static,
        R: IntoFunctionResponse<B, St> + Send + 'static,
        B: Serialize + Send + 'static,
        St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
        D: Into<bytes::Bytes> + Send + 'static,
        SE: Into<crate::Error> + Send + Debug + 'static,
    {
        let cell = environment_cell();
        let service = {
            let init = init.clone();
            lambda_runtime::service_fn(move |event: LambdaEvent<A>| {
                invocation(options, cell, init.clone(), handler.clone(), event)
            })
        };
        start(options, cell, init, shutdown, service)
    }
}

/// The cell that holds the state for the life of the process — the execution
/// environment. Leaked rather than `static` because a `static` cannot be generic; `main`
/// runs once per process, so this is exactly one allocation, never freed, like a static.
pub(crate) fn environment_cell<S>() -> &'static StateCell<S> {
    Box::leak(Box::new(StateCell::new()))
}

/// What every generated `main` does around its service: check that it runs under
/// Lambda, tracing, the tokio runtime, eager init (reported on failure), the shutdown
/// hook, and `lambda_runtime`'s loop with the defer and tracing layers.
pub(crate) fn start<S, I, IFut, Svc, A, R, B, St, D, SE>(
    options: Options,
    cell: &'static StateCell<S>,
    init: I,
    shutdown: Option<ShutdownFn<S>>,
    service: Svc,
) -> ExitCode
where
    S: Send + Sync + 'static,
    I: FnOnce() -> IFut,
    IFut: Future<Output = Result<S, InitError>>,
    Svc: Service<LambdaEvent<A>, Response = R> + Clone + Send + 'static,
    Svc::Future: Future<Output = Result<R, Svc::Error>> + Send + 'static,
    Svc::Error: Into<Diagnostic> + Debug + Send + 'static,
    A: for<'de> Deserialize<'de> + Send + 'static,
    R: IntoFunctionResponse<B, St> + Send + 'static,
    B: Serialize + Send + 'static,
    St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send + 'static,
    SE: Into<crate::Error> + Send + Debug + 'static,
{
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!(
            "lambda-thaw: `{}` is an AWS Lambda function and AWS_LAMBDA_RUNTIME_API is not set.\n\
             Deploy it to Lambda, or run it locally under the emulator:\n  \
             cargo run -p lambda-thaw-emulator -- --cargo-bin <this binary> --event '{{}}'",
            options.handler_name
        );
        return ExitCode::from(2);
    }
    lambda_runtime::tracing::init_default_subscriber();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lambda-thaw: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        if !options.lazy
            && let Err(error) = eager_init(options, cell, init).await
        {
            tracing::error!(error_type = %error.error_type, "{}", error.message);
            report_init_error(&error).await;
            return ExitCode::FAILURE;
        }
        if let Some(hook) = shutdown {
            // Registers a no-op internal extension so that Lambda sends SIGTERM at
            // shutdown, and runs the hook then (within the ~500 ms grace period).
            lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
                if let Some(state) = cell.get() {
                    hook(state).await;
                    tracing::info!("shutdown hook finished");
                }
            })
            .await;
        }
        // Layers run outermost-last-added: tracing's request span wraps the defer layer,
        // so deferred work logs under the invocation's request id.
        let runtime = Runtime::new(service).layer(DeferLayer).layer(TracingLayer::new());
        // `run_concurrent` starts AWS_LAMBDA_MAX_CONCURRENCY loops when it is above 1 and
        // falls back to the sequential loop otherwise.
        match runtime.run_concurrent().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = %error, handler = options.handler_name, "the Lambda runtime loop ended");
                ExitCode::FAILURE
            }
        }
    })
}

/// Lambda's INIT phase: before the first `next`, with the init CPU burst, and not billed
/// to (or delaying) the first invocation.
async fn eager_init<S, I, IFut>(
    options: Options,
    cell: &'static StateCell<S>,
    init: I,
) -> Result<(), InitError>
where
    I: FnOnce() -> IFut,
    IFut: Future<Output = Result<S, InitError>>,
{
    let started = Instant::now();
    cell.get_or_init(options.init_name, init).await?;
    if !options.init_name.is_empty() {
        tracing::info!(
            init = options.init_name,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "init finished"
        );
    }
    Ok(())
}

/// One invocation as the generated adapter runs it: the state (lazy init on first use),
/// the handler under the deadline guard, and — with `early_return = false` — the deferred
/// work before the response. Public (hidden) so benchmarks can call it without HTTP.
pub async fn invocation<S, I, IFut, H, HFut, A, R, E>(
    options: Options,
    cell: &'static StateCell<S>,
    init: I,
    handler: H,
    event: LambdaEvent<A>,
) -> Result<R, Diagnostic>
where
    I: FnOnce() -> IFut,
    IFut: Future<Output = Result<S, InitError>>,
    H: FnOnce(LambdaEvent<A>, &'static S) -> HFut,
    HFut: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    let deadline_ms = event.context.deadline;
    guarded(options, cell, init, deadline_ms, |state| {
        handler(event, state)
    })
    .await
}

/// The body of every invocation, whatever the handler's shape: state, deadline guard,
/// and deferred work before the response when `early_return = false`.
pub(crate) async fn guarded<S, I, IFut, C, Fut, R, E>(
    options: Options,
    cell: &'static StateCell<S>,
    init: I,
    deadline_ms: u64,
    call: C,
) -> Result<R, Diagnostic>
where
    I: FnOnce() -> IFut,
    IFut: Future<Output = Result<S, InitError>>,
    C: FnOnce(&'static S) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Into<Diagnostic>,
{
    let state = match cell.get() {
        Some(state) => state,
        None => lazy_init(options, cell, init).await?,
    };
    let result = match deadline::guard(options.deadline_margin_ms, deadline_ms, call(state)).await {
        Ok(result) => result.map_err(Into::into),
        Err(cancelled) => Err(deadline_error(cancelled.margin)),
    };
    if !options.early_return {
        // Node's default: the response waits for the deferred work.
        run_work(take_current()).await;
    }
    result
}

fn deadline_error(margin: Duration) -> Diagnostic {
    // Work the handler deferred belongs to an invocation that did not happen.
    let dropped = discard_current();
    let message = format!(
        "the handler was cancelled {} ms before the invocation's deadline so that this error could \
         be reported instead of Lambda killing the environment; its open transactions are rolled \
         back and its {dropped} deferred task(s) will not run. Raise the function's timeout, make \
         the handler faster, or tune `#[handler(deadline_margin = \"…\")]`",
        margin.as_millis()
    );
    tracing::error!("{message}");
    Diagnostic {
        error_type: "lambda_thaw::DeadlineExceeded".into(),
        error_message: message,
    }
}

async fn lazy_init<S, I, IFut>(
    options: Options,
    cell: &'static StateCell<S>,
    init: I,
) -> Result<&'static S, Diagnostic>
where
    I: FnOnce() -> IFut,
    IFut: Future<Output = Result<S, InitError>>,
{
    let started = Instant::now();
    match cell.get_or_init(options.init_name, init).await {
        Ok(state) => {
            tracing::info!(
                init = options.init_name,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "lazy init finished"
            );
            Ok(state)
        }
        Err(error) => {
            // Not cached: the next invocation tries again.
            tracing::error!(error_type = %error.error_type, "{}", error.message);
            Err(error.into())
        }
    }
}
