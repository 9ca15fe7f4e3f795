//! `defer`: work that runs after the response is posted and before the runtime asks for
//! the next event, so the caller does not wait for it and Lambda cannot freeze it half-way.
//!
//! Each invocation gets a queue in a task-local. [`DeferLayer`] wraps `lambda_runtime`'s
//! whole invocation (`GET next` → handler → `POST response`) and runs the queue after the
//! POST; the runtime only polls `next` again once that is done. See `runtime-api.md`:
//! a layer's code after `inner.call(..)` runs after the caller has its answer.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use lambda_runtime::LambdaInvocation;
use lambda_runtime::tower::{Layer, Service};
use tracing::Instrument;

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

tokio::task_local! {
    /// The current invocation's deferred work. A `RefCell` in a task-local, not an
    /// `Arc<Mutex<…>>`: only the invocation's own task touches it, and an invocation that
    /// defers nothing allocates nothing.
    static CURRENT: RefCell<Vec<Work>>;
}

/// Runs `future` with a fresh queue as the current invocation's; returns its output and
/// the work it deferred.
pub(crate) async fn with_queue<F: Future>(future: F) -> (F::Output, Vec<Work>) {
    CURRENT
        .scope(RefCell::new(Vec::new()), async {
            let output = future.await;
            (output, take_current())
        })
        .await
}

/// The work deferred so far in the current invocation, taken out of its queue.
pub(crate) fn take_current() -> Vec<Work> {
    CURRENT
        .try_with(|queue| std::mem::take(&mut *queue.borrow_mut()))
        .unwrap_or_default()
}

/// Runs `work` together, then whatever it deferred in turn. Errors and panics are logged,
/// never propagated.
pub(crate) async fn run_work(mut work: Vec<Work>) {
    while !work.is_empty() {
        let span = tracing::info_span!("deferred", tasks = work.len());
        let guarded = work.into_iter().map(|work| async move {
            if let Err(payload) = AssertUnwindSafe(work).catch_unwind().await {
                let text = crate::init::panic_message(&*payload);
                tracing::error!(panic = %text, "deferred work panicked");
            }
        });
        let ((), more) = with_queue(futures_util::future::join_all(guarded).map(drop))
            .instrument(span)
            .await;
        work = more;
    }
}

/// Drops the current invocation's deferred work (it was cancelled); returns how many.
pub(crate) fn discard_current() -> usize {
    take_current().len()
}

/// Whether the caller runs inside an invocation, where [`defer`] can queue work.
pub(crate) fn in_invocation() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// Runs `invocation` with its own defer queue, then the deferred work: what
/// [`DeferLayer`] does around `lambda_runtime`'s POST, without the HTTP (for benchmarks).
#[doc(hidden)]
pub async fn with_defer_queue<F: Future>(invocation: F) -> F::Output {
    let (output, work) = with_queue(invocation).await;
    run_work(work).await;
    output
}

/// What deferred work may return: `()` or a `Result` whose error is logged.
pub trait DeferredOutput: Send + 'static {
    /// Logs the outcome if it is an error.
    fn log(self);
}

impl DeferredOutput for () {
    fn log(self) {}
}

impl<E: fmt::Display + Send + 'static> DeferredOutput for Result<(), E> {
    fn log(self) {
        if let Err(error) = self {
            tracing::error!(error = %error, "deferred work failed");
        }
    }
}

/// `defer` was called where there is no invocation to attach the work to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferError;

impl fmt::Display for DeferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "`lambda_thaw::defer` was called outside an invocation: call it from the handler's \
             own task (not from `init`, a `tokio::spawn`ed task or a thread), where the work \
             can be run after the response and before the environment is frozen",
        )
    }
}

impl std::error::Error for DeferError {}

/// Queues `work` to run after this invocation's response is posted and before the
/// runtime asks for the next event: the caller does not wait for it, and Lambda cannot
/// freeze it half-way (it would, had you used `tokio::spawn`: a spawned task is frozen
/// with the environment as soon as the runtime is back in `next`).
///
/// With `#[handler(early_return = false)]` the response waits for the work instead.
///
/// The work's error (if it returns a `Result`) and any panic are logged and never reach
/// the runtime. Calling `defer` outside an invocation's task returns [`DeferError`].
///
/// ```no_run
/// use lambda_thaw::{handler, Error, LambdaEvent};
///
/// #[handler]
/// async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<&'static str, Error> {
///     lambda_thaw::defer(async move {
///         // e.g. flush metrics, write an audit row, call a webhook
///         tracing::info!(request = %event.context.request_id, "audited");
///     })?;
///     Ok("accepted")
/// }
/// # fn main() {} // keeps rustdoc from wrapping the example in a function body
/// ```
pub fn defer<F>(work: F) -> Result<(), DeferError>
where
    F: Future + Send + 'static,
    F::Output: DeferredOutput,
{
    let work: Work = Box::pin(work.map(DeferredOutput::log));
    CURRENT
        .try_with(|queue| queue.borrow_mut().push(work))
        .map_err(|_| DeferError)
}

/// Gives each invocation a defer queue and runs it after the response is posted.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeferLayer;

impl<S> Layer<S> for DeferLayer {
    type Service = DeferService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeferService { inner }
    }
}

/// The service made by [`DeferLayer`].
#[derive(Clone)]
pub struct DeferService<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for DeferService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        crate::gap::invocation_started();
        let posted = self.inner.call(invocation);
        Box::pin(async move {
            let (result, work) = with_queue(posted).await;
            // The response (or error) is posted: the caller has its answer. The runtime
            // polls `next` only after this returns, so Lambda cannot freeze this work.
            run_work(work).await;
            crate::gap::invocation_ended();
            result
        })
    }
}
