//! Shutdown: Lambda sends SIGTERM (to a function with an extension registered, see
//! `api.rs`) and SIGKILL about 500 ms later. In that time, in this order:
//!
//! 1. stop taking events: the workers leave `next`;
//! 2. let invocations in flight post their answers (and finish their deferred work), for
//!    at most [`DRAIN_LIMIT`] — a committed write must reach its caller as a success, not
//!    as `Runtime.ExitError` that a retry would write again;
//! 3. run the `shutdown` hook, or close the state ([`Close`](crate::Close)), then exit.

use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::lifecycle::Hook;
use crate::lifecycle::invoke::drained;

/// How long in-flight invocations may take to answer once SIGTERM arrived; the rest of
/// Lambda's ~500 ms grace is the hook's.
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
        let left = drained(DRAIN_LIMIT).await;
        if left > 0 {
            tracing::warn!(
                in_flight = left,
                "{name}: {left} invocation(s) still running after {} ms; shutting down anyway",
                DRAIN_LIMIT.as_millis()
            );
        } else {
            tracing::info!(
                drain_ms = started.elapsed().as_millis() as u64,
                "{name}: no invocation in flight; shutting down"
            );
        }
        if let Some(hook) = hook {
            hook().await;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "shutdown hook finished"
            );
        }
        std::process::exit(0);
    });
    Ok(Stopping(receiver))
}
