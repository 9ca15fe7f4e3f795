//! The deadline guard: cancel the handler (and a lazy init) shortly before the
//! invocation's deadline, and deferred work just before it, so that Lambda never has to
//! kill the environment.
//!
//! Cheap on the fast path: a future that finishes on its first poll never touches a
//! clock or the timer wheel. Only one that has to wait gets a timer, set from the
//! invocation's deadline minus the margin.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

use crate::lifecycle::context::Deadline;

/// The default `#[handler(deadline_margin = "…")]`: the handler is cancelled 500 ms before
/// the invocation's deadline (or at half the time it had, if that is later), its error is
/// reported, its transactions are rolled back as their futures are dropped, and its
/// deferred work is dropped — instead of Lambda killing the environment mid-write.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The handler did not finish before the guard fired; `margin` is how long before the
/// deadline that was.
pub(crate) struct Cancelled {
    pub(crate) margin: Duration,
}

/// Runs `handler`, cancelling it `margin_ms` before `deadline` — but never earlier
/// than half the time the invocation had when the guard started, so a short timeout still
/// runs the handler. `margin_ms == 0` or no deadline: no guard.
pub(crate) fn guard<F: Future>(margin_ms: u64, deadline: Option<Deadline>, handler: F) -> Guard<F> {
    let limit = match deadline {
        Some(Deadline(ms)) if margin_ms > 0 => Some((margin_ms, ms)),
        _ => None,
    };
    Guard {
        handler,
        limit,
        timer: None,
    }
}

pin_project_lite::pin_project! {
    /// The future [`guard`] returns. A struct rather than an `async fn`, which would hold
    /// the handler's future twice (its argument, and the pinned copy it polls).
    pub(crate) struct Guard<F> {
        #[pin]
        handler: F,
        // The margin and the deadline, both in milliseconds; `None`: no guard.
        limit: Option<(u64, u64)>,
        // Set on the first poll that finds the handler waiting.
        timer: Option<(Pin<Box<Sleep>>, Duration)>,
    }
}

impl<F: Future> Future for Guard<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.handler.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let Some((margin_ms, deadline_epoch_ms)) = *this.limit else {
            return Poll::Pending;
        };
        let (sleep, margin) = this.timer.get_or_insert_with(|| {
            let (run_for, margin) = budget(margin_ms, deadline_epoch_ms);
            (Box::pin(tokio::time::sleep(run_for)), margin)
        });
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Cancelled { margin: *margin })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// When the guard of an invocation that starts now will fire: `margin_ms` before
/// `deadline`, or half-way there if that is later (as [`guard`] does). The deadline itself
/// when there is no guard (`margin_ms == 0`).
pub(crate) fn guard_moment(margin_ms: u64, deadline: Deadline) -> Deadline {
    let (run_for, _) = budget(margin_ms, deadline.0);
    Deadline(crate::lifecycle::context::now_ms() + run_for.as_millis() as u64)
}

/// How long from now until `deadline` (zero once past).
pub(crate) fn until(deadline: Deadline) -> Duration {
    Duration::from_millis(
        deadline
            .0
            .saturating_sub(crate::lifecycle::context::now_ms()),
    )
}

/// How long the handler may run from now, and the margin actually applied.
fn budget(margin_ms: u64, deadline_epoch_ms: u64) -> (Duration, Duration) {
    let remaining = deadline_epoch_ms.saturating_sub(crate::lifecycle::context::now_ms());
    let margin = margin_ms.min(remaining / 2);
    (
        Duration::from_millis(remaining - margin),
        Duration::from_millis(margin),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(ms: u64) -> u64 {
        crate::lifecycle::context::now_ms() + ms
    }

    #[test]
    fn the_margin_never_takes_more_than_half_the_time_left() {
        let (run_for, margin) = budget(500, epoch_ms_in(600));
        assert!(margin.as_millis() <= 300, "{margin:?}");
        assert!(run_for.as_millis() >= 299, "{run_for:?}");
        let (run_for, margin) = budget(500, epoch_ms_in(10_000));
        assert_eq!(margin, Duration::from_millis(500));
        // The handler runs until the margin before the deadline, not past it.
        assert!(
            (9_400..=9_500).contains(&run_for.as_millis()),
            "{run_for:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_handler_is_cancelled_before_the_deadline() {
        let deadline = epoch_ms_in(3_000);
        let result = guard(
            500,
            Some(Deadline(deadline)),
            tokio::time::sleep(Duration::from_secs(10)),
        )
        .await;
        assert!(
            matches!(result, Err(Cancelled { margin }) if margin == Duration::from_millis(500))
        );
    }

    /// `deadline_margin = "0"` switches the guard off: a handler running past its
    /// deadline is left to Lambda, as without lambda-thaw.
    #[tokio::test(start_paused = true)]
    async fn no_margin_no_guard_even_past_the_deadline() {
        let result = guard(0, Some(Deadline(epoch_ms_in(100))), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            7
        })
        .await;
        assert!(matches!(result, Ok(7)), "cancelled without a margin");
    }

    #[tokio::test]
    async fn a_fast_handler_is_not_cancelled() {
        assert!(
            guard(500, Some(Deadline(epoch_ms_in(3_000))), async { 7 })
                .await
                .is_ok()
        );
        assert!(
            guard(0, Some(Deadline(1)), async { 7 }).await.is_ok(),
            "no guard without a margin"
        );
    }
}
