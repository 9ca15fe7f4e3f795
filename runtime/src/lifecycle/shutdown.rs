//! Shutdown: Lambda sends SIGTERM (to a function with an extension registered, see
//! `api.rs`) and SIGKILL [`SHUTDOWN_BUDGET`] later. In that time, in this order:
//!
//! 1. stop taking events: the workers leave `next`;
//! 2. let invocations in flight post their answers, for at most [`DRAIN_LIMIT`] — a
//!    committed write must reach its caller as a success, not as `Runtime.ExitError` that
//!    a retry would write again — and then finish their deferred work within the same limit;
//! 3. if some are still running, wait for them until [`CUT_AT`], then cut them: their
//!    futures are dropped (their transactions roll back, their connections go back to the
//!    pool, which the hook then closes cleanly instead of leaving the sessions to the kill)
//!    and each unanswered one is answered with `lambda_thaw::ShutdownCut`; then let the
//!    pools lambda-thaw connected take their connections back;
//! 4. run the `shutdown` hook, or close the state ([`Close`](crate::Close)), for at most
//!    what is left until [`EXIT_BY`]: a hook that waits never gets the process killed;
//! 5. wait, until [`EXIT_BY`], for any answer still being posted, then exit.
//!
//! So an invocation that answers within [`CUT_AT`] of the signal is always answered as it
//! meant to; one that takes longer is answered with `lambda_thaw::ShutdownCut`, its writes
//! rolled back — unless it had committed already, so make such writes idempotent.

use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::emf;
use crate::lifecycle::function::Hook;
use crate::lifecycle::taken::{answered_within, finished_within};
use crate::lifecycle::upkeep;

/// Lambda's time between SIGTERM and SIGKILL for a function whose only extensions are
/// internal (lambda-thaw's is).
pub(crate) const SHUTDOWN_BUDGET: Duration = Duration::from_millis(500);
/// When the process exits at the latest, counted from the signal: the budget less a margin
/// for the exit itself and a loaded machine.
pub(crate) const EXIT_BY: Duration = Duration::from_millis(430);
/// How long in-flight invocations may take to answer (and then to finish their deferred
/// work) before the hook runs; the rest until [`EXIT_BY`] is the hook's.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_millis(300);
/// When the invocations still unanswered are cut, counted from the signal: late enough to
/// let most answer, early enough for their rollbacks and the pool's clean close before
/// [`EXIT_BY`].
pub(crate) const CUT_AT: Duration = Duration::from_millis(360);

/// Where shutdown is, as the workers see it.
const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const CUTTING: u8 = 2;

/// Tells the workers to stop taking events, and later to cut what they still run.
#[derive(Clone)]
pub(crate) struct Stopping(watch::Receiver<u8>);

impl Stopping {
    /// Resolves once shutdown has begun.
    pub(crate) async fn wait(&mut self) {
        // An error means the sender is gone: the process is ending anyway.
        let _ = self.0.wait_for(|phase| *phase >= STOPPING).await;
    }

    /// Resolves once the invocations still running are to be cut.
    pub(crate) async fn cut(&mut self) {
        if self.0.wait_for(|phase| *phase >= CUTTING).await.is_err() {
            // The sender is gone: the process is ending; never cut for that.
            std::future::pending::<()>().await;
        }
    }
}

/// Listens for SIGTERM and SIGINT; on either, drains, runs `hook` and exits the process.
/// Returns what the workers watch.
pub(crate) fn on_signal(hook: Option<Hook>) -> std::io::Result<Stopping> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (sender, receiver) = watch::channel(RUNNING);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        let started = Instant::now();
        let _ = sender.send(STOPPING);
        let left_until = |limit: Duration| limit.saturating_sub(started.elapsed());
        let in_flight = finished_within(Duration::ZERO).await;
        let unanswered = answered_within(DRAIN_LIMIT).await;
        let unfinished = finished_within(left_until(DRAIN_LIMIT)).await;
        if unanswered > 0 {
            tracing::warn!(
                unanswered,
                "{name}: {unanswered} invocation(s) not answered after {} ms; what still runs at {} ms is cut",
                DRAIN_LIMIT.as_millis(),
                CUT_AT.as_millis()
            );
        } else if unfinished > 0 {
            tracing::warn!(
                unfinished,
                "{name}: deferred work of {unfinished} invocation(s) still running after {} ms; what still runs at {} ms is cut",
                DRAIN_LIMIT.as_millis(),
                CUT_AT.as_millis()
            );
        } else if in_flight > 0 {
            tracing::info!(
                in_flight,
                drain_ms = started.elapsed().as_millis() as u64,
                "{name}: the {in_flight} invocation(s) in flight answered and finished their deferred work; shutting down"
            );
        } else {
            tracing::info!("{name}: no invocation in flight; shutting down");
        }
        if unanswered > 0 || unfinished > 0 {
            // Before the hook: what still runs at CUT_AT is cut, so that the connections
            // it holds come back (rolled back) and the hook's close ends them cleanly.
            if finished_within(left_until(CUT_AT)).await > 0 {
                let _ = sender.send(CUTTING);
                finished_within(left_until(EXIT_BY)).await;
            }
            let _ = tokio::time::timeout(left_until(EXIT_BY), upkeep::before_shutdown()).await;
        }
        if let Some(hook) = hook {
            match tokio::time::timeout(left_until(EXIT_BY), hook()).await {
                Ok(()) => tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "shutdown hook finished"
                ),
                Err(_) => tracing::warn!(
                    "{name}: the shutdown hook did not finish within {} ms; exiting before Lambda's SIGKILL",
                    EXIT_BY.as_millis()
                ),
            }
        }
        let unanswered = answered_within(left_until(EXIT_BY)).await;
        if unanswered > 0 {
            tracing::error!(
                unanswered,
                "{name}: {unanswered} invocation(s) could not answer within Lambda's {} ms shutdown budget",
                SHUTDOWN_BUDGET.as_millis()
            );
        }
        // What was recorded since the last invocation's flush (the hook closing the pool,
        // a task the handler spawned): Lambda still collects the shutdown phase's output.
        emf::flush();
        std::process::exit(0);
    });
    Ok(Stopping(receiver))
}
