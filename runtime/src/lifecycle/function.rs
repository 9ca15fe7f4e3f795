//! A function with its types erased — what [`start`](super::start::start) runs — and the
//! erased shapes of its parts: the handler, the eager init, the shutdown hook, the options
//! the attribute gave, the process set-up and the invocation service layers wrap.

use std::future::Future;
use std::pin::Pin;

use lambda_runtime::tower::util::BoxCloneService;
use lambda_runtime::{Diagnostic, LambdaInvocation};
use lambda_runtime_api_client::BoxError;

use crate::lifecycle::deadline::DEFAULT_DEADLINE_MARGIN;
use crate::lifecycle::respond::Reply;

/// The invocation service that [`Builder::layer`](crate::Builder::layer)s wrap:
/// `lambda_runtime`'s `Service<LambdaInvocation>` shape, its type erased.
pub type InvocationService = BoxCloneService<LambdaInvocation, (), BoxError>;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The handler with its types erased: the invocation in, the serialized answer out.
pub(crate) type Handler =
    Box<dyn Fn(LambdaInvocation) -> BoxFuture<Result<Reply, Diagnostic>> + Send + Sync>;

/// Eager init with its state type erased: fills the environment's state cell.
/// Its error is what `init/error` is told.
pub(crate) type EagerInit = Box<dyn FnOnce() -> BoxFuture<Result<(), Diagnostic>> + Send>;

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
    /// `metrics = "Namespace"`: CloudWatch metrics (EMF) in this namespace; `None`: off.
    pub metrics: Option<&'static str>,
}

impl Options {
    /// The deadline margin in effect.
    pub(crate) fn margin_ms(&self) -> u64 {
        self.deadline_margin_ms
            .unwrap_or(DEFAULT_DEADLINE_MARGIN.as_millis() as u64)
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
