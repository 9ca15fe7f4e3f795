//! The invocation's scope: its defer queue, its deadline and the idle gap before it, in a
//! task-local that the invocation's own task (and nothing else) sees.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::lifecycle::context::Deadline;
use crate::lifecycle::deadline;

/// A deferred task: resolves to its failure, as text, if it failed.
pub(crate) type Work = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// What one invocation carries besides its event.
struct Scope {
    /// Its deferred work. A `RefCell`, not an `Arc<Mutex<…>>`: only the invocation's own
    /// task touches it, and an invocation that defers nothing allocates nothing.
    deferred: RefCell<Vec<Work>>,
    deadline: Option<Deadline>,
    /// When the deadline guard cancels the handler (the deadline, without a guard): what
    /// waits inside the handler — a lock, a connect, a batch — must give up before it, so
    /// that its own error is reported rather than the guard's.
    guard_at: Option<Deadline>,
    idle_gap: Duration,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `future` as an invocation with this deadline, guard margin (0: no guard) and idle
/// gap; returns its output and the work it deferred.
pub(crate) fn scope<F: Future>(
    deadline: Option<Deadline>,
    margin_ms: u64,
    idle_gap: Duration,
    future: F,
) -> impl Future<Output = F::Output> {
    let scope = Scope {
        deferred: RefCell::new(Vec::new()),
        deadline,
        guard_at: deadline.map(|deadline| deadline::guard_moment(margin_ms, deadline)),
        idle_gap,
    };
    // Not an `async fn`: that would hold `future` twice (its argument and the scope).
    SCOPE.scope(scope, future)
}

/// Runs `future` with a fresh queue (and the current invocation's deadline, guard and
/// gap); returns its output and the work it deferred.
pub(crate) async fn with_queue<F: Future>(future: F) -> (F::Output, Vec<Work>) {
    let (deadline, guard_at, idle_gap) = SCOPE
        .try_with(|scope| (scope.deadline, scope.guard_at, scope.idle_gap))
        .unwrap_or((None, None, Duration::ZERO));
    let scope = Scope {
        deferred: RefCell::new(Vec::new()),
        deadline,
        guard_at,
        idle_gap,
    };
    SCOPE
        .scope(scope, async {
            let output = future.await;
            (output, take_current())
        })
        .await
}

/// The work deferred so far in the current invocation, taken out of its queue.
pub(crate) fn take_current() -> Vec<Work> {
    SCOPE
        .try_with(|scope| std::mem::take(&mut *scope.deferred.borrow_mut()))
        .unwrap_or_default()
}

/// How long the current invocation has until its deadline: `None` outside an invocation,
/// or when the invocation has no usable deadline (see [`Context`](crate::Context):
/// cargo-lambda's relative deadline, for one). Zero once the deadline has passed.
///
/// Use it to bound what the handler waits for — a connect, a retry loop, a call to
/// another service — so it fails with an error of its own instead of being cancelled
/// by the deadline guard.
pub fn time_left() -> Option<Duration> {
    SCOPE
        .try_with(|scope| scope.deadline)
        .ok()
        .flatten()
        .map(deadline::until)
}

/// How long the current invocation's handler has until the deadline guard cancels it
/// (with the function's own `deadline_margin`), or until the deadline where there is no
/// guard: `None` outside an invocation or without a usable deadline. What waits inside
/// the handler (an idempotency claim's lock, a connect's back-off, a batch's next record)
/// gives up before this, so the caller gets that wait's own error.
#[cfg_attr(not(any(feature = "sqlx", feature = "batch")), allow(dead_code))]
pub(crate) fn time_before_guard() -> Option<Duration> {
    SCOPE
        .try_with(|scope| scope.guard_at)
        .ok()
        .flatten()
        .map(deadline::until)
}

/// How long the environment sat idle (and so, on Lambda, possibly frozen) before the
/// current invocation: from the moment the environment last had no invocation in flight
/// to this invocation's start. Zero outside an invocation, for the first invocation, and
/// for an invocation that started while others were in flight (the environment was not
/// frozen then).
///
/// A connection's own idle time is not enough to know it sat through a freeze: sqlx
/// returns a connection to its pool from a spawned task, which may only run *after* the
/// thaw, so a connection can look freshly released although the server closed it while
/// the environment was frozen.
pub fn idle_gap_before_invocation() -> Duration {
    SCOPE.try_with(|scope| scope.idle_gap).unwrap_or_default()
}

/// Drops the current invocation's deferred work (it was cancelled); returns how many.
pub(crate) fn discard_current() -> usize {
    take_current().len()
}

/// Whether the caller runs inside an invocation, where [`defer`] can queue work.
pub(crate) fn in_invocation() -> bool {
    SCOPE.try_with(|_| ()).is_ok()
}

/// Queues `work` in the current invocation; `false` (and `work` dropped) outside one.
pub(crate) fn queue(work: Work) -> bool {
    SCOPE
        .try_with(move |scope| scope.deferred.borrow_mut().push(work))
        .is_ok()
}
