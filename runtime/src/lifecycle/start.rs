//! The process, which is one execution environment: its configuration, tracing, the tokio
//! runtime, eager init (Lambda's INIT phase) overlapping the shutdown extension's
//! registration, and the workers.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::Config;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tower::Layer;

use lambda_runtime::Diagnostic;

use crate::emf;
use crate::lifecycle::api::Api;
use crate::lifecycle::errors::{INVALID_OPTION, error_type};
use crate::lifecycle::function::{Flavor, Function, InvocationService, Tracing};
use crate::lifecycle::invoke::InvokeService;
use crate::lifecycle::shutdown::Stopping;
use crate::lifecycle::worker::{TraceEnv, serve};
use crate::lifecycle::{abort, shutdown, trace_env};

/// Runs `function` as this process's Lambda function until shutdown. This is the whole
/// generated `main`, after the typed shim.
pub(crate) fn start(mut function: Function) -> ExitCode {
    let handler = function.options.handler_name;
    if tokio::runtime::Handle::try_current().is_ok() {
        // tokio would panic with "Cannot start a runtime from within a runtime".
        eprintln!(
            "lambda-thaw: `{handler}` was started from inside a tokio runtime (`#[tokio::main]`?). \
             lambda-thaw starts its own: call `Builder::run` from a plain `fn main`, or let \
             `#[handler]` generate `main`"
        );
        return ExitCode::from(2);
    }
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!(
            "lambda-thaw: `{handler}` is an AWS Lambda function and AWS_LAMBDA_RUNTIME_API is not set.\n\
             Deploy it to Lambda, or run it locally under the emulator:\n  \
             cargo run -p lambda-thaw-emulator -- --cargo-bin <this binary> --event '{{}}'"
        );
        return ExitCode::from(2);
    }
    let config = match config_from_env() {
        Ok(config) => Arc::new(config),
        Err(problem) => {
            eprintln!("lambda-thaw: {problem}; Lambda sets it for every function");
            return ExitCode::from(2);
        }
    };
    // Before any thread of ours exists (see `trace_env.rs`).
    trace_env::prepare();
    match std::mem::take(&mut function.setup.tracing) {
        Tracing::Default => lambda_runtime::tracing::init_default_subscriber(),
        Tracing::Off => {}
        Tracing::Custom(setup) => setup(),
    }
    abort::prepare(handler);
    let mut builder = match function.setup.runtime {
        Flavor::MultiThread(workers) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(workers) = workers {
                builder.worker_threads(workers);
            }
            builder
        }
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lambda-thaw: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(environment(function, config))
}

async fn environment(mut function: Function, config: Arc<Config>) -> ExitCode {
    let options = function.options;
    let workers = max_concurrency() as usize;
    let api: &'static Api = Box::leak(Box::new(Api::new(workers)));
    let hook = function.shutdown.take();
    // Lambda sends SIGTERM at shutdown only to a function with an extension; registering
    // one is a round trip, done while init runs rather than before it.
    let registration = hook
        .is_some()
        .then(|| tokio::spawn(api.register_shutdown_extension()));
    if let Some(namespace) = options.metrics
        && let Err(problem) = emf::install(namespace, &config.function_name)
    {
        let diagnostic = Diagnostic {
            error_type: error_type(INVALID_OPTION),
            error_message: format!("`metrics`: {problem}"),
        };
        tracing::error!(error_type = %diagnostic.error_type, "{}", diagnostic.error_message);
        api.init_error(&diagnostic).await;
        return ExitCode::FAILURE;
    }
    if let Some(init) = function.init.take() {
        let started = Instant::now();
        abort::in_init(Some(options.init_name.unwrap_or("init")));
        let outcome = init().await;
        abort::in_init(None);
        if let Err(error) = outcome {
            let diagnostic = error;
            tracing::error!(error_type = %diagnostic.error_type, "{}", diagnostic.error_message);
            // In 1.5 `lambda_runtime` reports only SnapStart failures; any other failed
            // init would be a bare `Runtime.ExitError`.
            api.init_error(&diagnostic).await;
            return ExitCode::FAILURE;
        }
        if let Some(init) = options.init_name {
            tracing::info!(
                init,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "init finished"
            );
        }
    }
    if let Some(task) = registration {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot register the shutdown extension: Lambda will not send SIGTERM, so the state is not closed at shutdown")
            }
            Err(error) => tracing::warn!(%error, "the shutdown extension's registration failed"),
        }
    }
    let stopping = match shutdown::on_signal(hook) {
        Ok(stopping) => stopping,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            return ExitCode::FAILURE;
        }
    };
    let service = TracingLayer::new().layer(InvokeService {
        options,
        handler: Arc::new(function.handler),
        api,
    });
    // Type-erased even without layers: one instantiation of the loop for every function
    // (a second, for the unlayered case, costs binary size and saves one allocation per
    // invocation — nothing next to its HTTP round trips).
    let mut service = InvocationService::new(service);
    for layer in function.setup.layers {
        service = layer(service);
    }
    workers_serving(service, workers, api, config, stopping).await;
    // Shutdown: the signal task drains, runs the hook and exits the process.
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

/// Serves with one worker per invocation the environment runs at once, each on a runtime
/// worker (not on `block_on`'s thread: memory the loop allocates is then freed on the
/// thread that allocated it — the HTTP client's tasks run on the workers — and the process
/// stays flat). Returns when shutdown began. A worker that ended in a panic (none should:
/// the loop catches what the handler and the layers throw) is replaced.
async fn workers_serving(
    service: InvocationService,
    workers: usize,
    api: &'static Api,
    config: Arc<Config>,
    stopping: Stopping,
) {
    // One invocation at a time: `_X_AMZN_TRACE_ID` can follow it.
    let trace = if workers <= 1 {
        TraceEnv::Set
    } else {
        TraceEnv::Leave
    };
    let worker = || {
        serve(
            service.clone(),
            api,
            config.clone(),
            trace,
            stopping.clone(),
        )
    };
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        running.spawn(worker());
    }
    while let Some(ended) = running.join_next().await {
        if let Err(error) = ended
            && error.is_panic()
        {
            tracing::error!(%error, "a worker of the invocation loop panicked; starting another");
            running.spawn(worker());
        }
    }
}

/// `lambda_runtime::Config::from_env`, with an error instead of a panic.
fn config_from_env() -> Result<Config, String> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("`{name}` is not set"));
    let memory = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?;
    Ok(Config {
        function_name: var("AWS_LAMBDA_FUNCTION_NAME")?,
        memory: memory.parse().map_err(|_| {
            format!("`AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is `{memory}`, not a number of megabytes")
        })?,
        version: var("AWS_LAMBDA_FUNCTION_VERSION")?,
        log_stream: std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default(),
        log_group: std::env::var("AWS_LAMBDA_LOG_GROUP_NAME").unwrap_or_default(),
    })
}

/// `AWS_LAMBDA_MAX_CONCURRENCY`, or 1 when unset or invalid: how many invocations this
/// environment runs at once (Lambda Managed Instances set it above 1).
pub fn max_concurrency() -> u32 {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}
