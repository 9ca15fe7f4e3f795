//! Shutdown: Lambda sends SIGTERM (to a function with an extension registered, see
//! `api.rs`) and SIGKILL [`SHUTDOWN_BUDGET`] later. In that time, in this order:
//!
//! 1. stop taking events: the workers leave `next`;
//! 2. let invocations in flight post their answers, for at most [`DRAIN_LIMIT`] — a
//!    committed write must reach its caller as a success, not as `Runtime.ExitError` that
//!    a retry would write again — and then finish their deferred work within the same limit;
//! 3. run the `shutdown` hook, or close the state ([`Close`](crate::Close)), for at most
//!    what is left until [`EXIT_BY`]: a hook that waits (a pool's `close` waits for the
//!    connection an invocation still holds) never gets the process killed;
//! 4. wait, until [`EXIT_BY`], for any answer still being worked on, then exit.
//!
//! So an invocation that answers within [`EXIT_BY`] of the signal is always answered; one
//! that takes longer is cut by the SIGKILL that follows, and its caller sees an error even
//! if its write committed. Make such writes idempotent.

use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::emf;
use crate::lifecycle::function::Hook;
use crate::lifecycle::taken::{answered_within, finished_within};

/// Lambda's time between SIGTERM and SIGKILL for a function whose only extensions are
/// internal (lambda-thaw's is).
pub(crate) const SHUTDOWN_BUDGET: Duration = Duration::from_millis(500);
/// When the process exits at the latest, counted from the signal: the budget less a margin
/// for the exit itself and a loaded machine.
pub(crate) const EXIT_BY: Duration = Duration::from_millis(430);
/// How long in-flight invocations may take to answer (and then to finish their deferred
/// work) before the hook runs; the rest until [`EXIT_BY`] is the hook's.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_millis(300);

/// Tells the workers to stop taking events.
#[derive(Clone)]
pub(crate) struct Stopping(watch::Receiver<bool>);

impl Stopping {
    /// Resolves once shutdown has begun.
    pub(crate) async fn wait(&mut self) {
        // An error means the sender is gone: the process is ending anyway.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Listens for SIGTERM and SIGINT; on either, drains, runs `hook` and exits the process.
/// Returns what the workers watch.
pub(crate) fn on_signal(hook: Option<Hook>) -> std::io::Result<Stopping> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        let started = Instant::now();
        let _ = sender.send(true);
        let left_until = |limit: Duration| limit.saturating_sub(started.elapsed());
        let in_flight = finished_within(Duration::ZERO).await;
        let unanswered = answered_within(DRAIN_LIMIT).await;
        let unfinished = finished_within(left_until(DRAIN_LIMIT)).await;
        if unanswered > 0 {
            tracing::warn!(
                unanswered,
                "{name}: {unanswered} invocation(s) not answered after {} ms; running the shutdown hook meanwhile",
                DRAIN_LIMIT.as_millis()
            );
        } else if unfinished > 0 {
            tracing::warn!(
                unfinished,
                "{name}: deferred work of {unfinished} invocation(s) still running after {} ms; shutting down anyway",
                DRAIN_LIMIT.as_millis()
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
