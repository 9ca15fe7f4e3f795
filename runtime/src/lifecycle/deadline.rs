//! The deadline guard: cancel the handler (and a lazy init) shortly before the
//! invocation's deadline, and deferred work just before it, so that Lambda never has to
//! kill the environment.
//!
//! Cheap on the fast path: a future that finishes on its first poll never touches a
//! clock or the timer wheel. Only one that has to wait gets a timer, set from the
//! invocation's deadline minus the margin.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, Sleep};

use crate::lifecycle::context::Deadline;

/// The handler did not finish before the guard fired; `margin` is how long before the
/// deadline that was.
pub(crate) struct Cancelled {
    pub(crate) margin: Duration,
}

/// Runs `handler`, cancelling it `margin_ms` before `deadline` — but never earlier
/// than half the time the invocation had when the guard started, so a short timeout still
/// runs the handler. `margin_ms == 0` or no deadline: no guard.
pub(crate) async fn guard<F: Future>(
    margin_ms: u64,
    deadline: Option<Deadline>,
    handler: F,
) -> Result<F::Output, Cancelled> {
    let deadline_epoch_ms = match deadline {
        Some(Deadline(ms)) if margin_ms > 0 => ms,
        _ => return Ok(handler.await),
    };
    let started = Instant::now();
    let mut handler = pin!(handler);
    let mut timer: Option<(Pin<Box<Sleep>>, Duration)> = None;
    poll_fn(|cx| {
        if let Poll::Ready(output) = handler.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let (sleep, margin) = timer.get_or_insert_with(|| {
            let (run_for, margin) = budget(margin_ms, deadline_epoch_ms);
            (
                Box::pin(tokio::time::sleep_until(started + run_for)),
                margin,
            )
        });
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Cancelled { margin: *margin })),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
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
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let remaining = deadline_epoch_ms.saturating_sub(now_ms);
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
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + ms
    }

    #[test]
    fn the_margin_never_takes_more_than_half_the_time_left() {
        let (run_for, margin) = budget(500, epoch_ms_in(600));
        assert!(margin.as_millis() <= 300, "{margin:?}");
        assert!(run_for.as_millis() >= 299, "{run_for:?}");
        let (_, margin) = budget(500, epoch_ms_in(10_000));
        assert_eq!(margin, Duration::from_millis(500));
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
