//! Deferred work: `defer` queues work that runs after the response is posted and before the runtime asks
//! for the next event, so the caller does not wait for it and Lambda cannot freeze it
//! half-way; `invoke.rs` runs the queue, bounded by the deadline.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::lifecycle::context::Deadline;
use crate::lifecycle::deadline;
use crate::lifecycle::errors::panic_message;
use crate::lifecycle::scope::{Work, queue, with_queue};

/// What became of one deferred task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferredOutcome {
    /// It ran to the end.
    Done,
    /// It returned this error (logged).
    Failed(String),
    /// It panicked with this message (logged).
    Panicked(String),
}

/// Runs `work` together, then whatever it deferred in turn; returns what became of each
/// task. Errors and panics are logged, never propagated.
pub(crate) async fn run_work(mut work: Vec<Work>) -> Vec<DeferredOutcome> {
    let mut outcomes = Vec::with_capacity(work.len());
    while !work.is_empty() {
        let span = tracing::info_span!("deferred", tasks = work.len());
        let guarded = work.into_iter().map(|work| async move {
            match AssertUnwindSafe(work).catch_unwind().await {
                Ok(None) => DeferredOutcome::Done,
                Ok(Some(error)) => {
                    tracing::error!(%error, "deferred work failed");
                    DeferredOutcome::Failed(error)
                }
                Err(payload) => {
                    let text = panic_message(&*payload);
                    tracing::error!(panic = %text, "deferred work panicked");
                    DeferredOutcome::Panicked(text)
                }
            }
        });
        let (done, more) = with_queue(futures_util::future::join_all(guarded))
            .instrument(span)
            .await;
        outcomes.extend(done);
        work = more;
    }
    outcomes
}

/// Deferred work must be over this long before the deadline: the runtime still has to
/// get back to `next` before Lambda's timeout kills the environment.
const DEFERRED_MARGIN: Duration = Duration::from_millis(50);

/// Runs `work` (see [`run_work`]) until `DEFERRED_MARGIN` before `deadline`; what is still
/// running then is cancelled and logged, so the environment is never killed for it.
/// What became of each task, or `None` if the deadline cut the work short.
pub(crate) async fn run_work_until(
    work: Vec<Work>,
    deadline: Option<Deadline>,
) -> Option<Vec<DeferredOutcome>> {
    if work.is_empty() {
        return Some(Vec::new());
    }
    // Boxed: an invocation that deferred nothing carries no room for this in its future.
    Box::pin(bounded(work, deadline)).await
}

/// Runs `work` until `DEFERRED_MARGIN` before `deadline`: what became of each task, or
/// `None` if the deadline cut it short (logged).
async fn bounded(work: Vec<Work>, deadline: Option<Deadline>) -> Option<Vec<DeferredOutcome>> {
    let Some(deadline) = deadline else {
        return Some(run_work(work).await);
    };
    let tasks = work.len();
    let budget = deadline::until(deadline).saturating_sub(DEFERRED_MARGIN);
    let outcomes = tokio::time::timeout(budget, run_work(work)).await.ok();
    if outcomes.is_none() {
        tracing::error!(
            tasks,
            budget_ms = budget.as_millis() as u64,
            "deferred work was still running {} ms before the invocation's deadline and was cancelled, so that Lambda does not kill the environment; make it shorter or raise the function's timeout",
            DEFERRED_MARGIN.as_millis()
        );
    }
    outcomes
}

/// What deferred work may return: `()` or a `Result` whose error is logged.
#[diagnostic::on_unimplemented(
    message = "deferred work returns `{Self}`, which lambda-thaw cannot report",
    label = "the future given to `lambda_thaw::defer` (or a shutdown hook) must output `()` or `Result<(), E>` with `E: Display`",
    note = "end the block with `Ok::<(), YourError>(())`, or drop the value (`let _ = …;`)"
)]
pub trait DeferredOutput: Send + 'static {
    /// The failure, as text, if this output is an error.
    fn failure(self) -> Option<String>;
}

impl DeferredOutput for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Display + Send + 'static> DeferredOutput for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|error| error.to_string())
    }
}

/// Logs `output` if it is an error (the shutdown hook's outcome).
pub fn log_failure(output: impl DeferredOutput, what: &str) {
    if let Some(error) = output.failure() {
        tracing::error!(%error, "{what} failed");
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
             can be run after the response and before the environment is frozen. In a test, \
             run the handler with `lambda_thaw::testing::Invocation::run`, which gives it an \
             invocation and runs its deferred work",
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
/// The work must own what it uses (`'static`): to use the state in it, take the state as
/// `&'static S` in the handler (`db: &'static Db`) — it lives as long as the environment —
/// and move the reference in. (With `db: &Db`, `#[handler]` says to write `&'static Db`.)
///
/// The work is bounded by the invocation's deadline: what still runs 50 ms before it is
/// cancelled and logged, so Lambda never has to kill the environment for it. A deadline
/// guard that cancels the handler drops the work it deferred.
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
    let work: Work = Box::pin(work.map(DeferredOutput::failure));
    if queue(work) { Ok(()) } else { Err(DeferError) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::scope::{
        discard_current, idle_gap_before_invocation, in_invocation, scope, take_current, time_left,
    };

    /// What an invocation's scope tells the code inside it, and nothing outside it.
    #[tokio::test]
    async fn the_scope_carries_the_idle_gap_and_the_deadline_only_inside_it() {
        assert_eq!(idle_gap_before_invocation(), Duration::ZERO);
        assert!(!in_invocation());
        assert_eq!(time_left(), None);
        let outside = defer(async {}).unwrap_err().to_string();
        assert!(
            outside.contains("outside an invocation") && outside.contains("lambda_thaw::testing"),
            "{outside}"
        );
        let deadline = Deadline(crate::lifecycle::context::now_ms() + 60_000);
        let (gap, inside, left, queued) = scope(Some(deadline), 0, Duration::from_secs(5), async {
            let queued = defer(async {}).is_ok() && defer(async {}).is_ok();
            (
                idle_gap_before_invocation(),
                in_invocation(),
                time_left(),
                (queued, take_current().len()),
            )
        })
        .await;
        assert_eq!(gap, Duration::from_secs(5));
        assert!(inside);
        let left = left.expect("a deadline inside the scope");
        assert!(
            left > Duration::from_secs(59) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(queued, (true, 2));
    }

    /// A cancelled invocation's queue is emptied and counted; nothing is left to run.
    #[tokio::test]
    async fn discarding_empties_the_queue_and_counts_it() {
        let (dropped, left) = scope(None, 0, Duration::ZERO, async {
            for _ in 0..3 {
                defer(async {}).unwrap();
            }
            (discard_current(), take_current().len())
        })
        .await;
        assert_eq!((dropped, left), (3, 0));
    }
}
