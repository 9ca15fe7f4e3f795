//! The loop: ask for the next event, read it, hand it to the service, repeat — one per
//! concurrent invocation the environment allows.
//!
//! Nothing an invocation carries can end it: an unreadable header is answered as an error
//! for that request (`context.rs`), a handler's error or panic is its answer, and a tower
//! layer is held to the handler's standard — its `Err` or panic becomes the invocation's
//! error answer (unless the invocation was answered already) and the worker serves on.
//! Nor does the Runtime API: a failed `GET next` is retried, with a back-off capped at
//! [`POLL_BACKOFF_CAP`], for as long as the process lives (Lambda, not the runtime, decides
//! when an environment is gone; a local tool may answer an idle poll with 408).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use lambda_runtime::tower::{Service, ServiceExt};
use lambda_runtime::{Config, Diagnostic, LambdaInvocation};

use crate::emf;
use crate::lifecycle::api::{Api, invocation_id};
use crate::lifecycle::context::{self, Unreadable};
use crate::lifecycle::errors::{LAYER_ERROR, LAYER_PANIC, SHUTDOWN_CUT, error_type, panic_message};
use crate::lifecycle::function::InvocationService;
use crate::lifecycle::shutdown::Stopping;
use crate::lifecycle::taken::{Holding, Taken};
use crate::lifecycle::trace_env;

/// The first wait after a failed `GET next`; it doubles with each failure in a row.
const POLL_BACKOFF_START: Duration = Duration::from_millis(10);
/// The longest wait between two `GET next` attempts: a Runtime API that keeps failing
/// costs one request per this period, and serves again at most this long after it recovers.
pub(crate) const POLL_BACKOFF_CAP: Duration = Duration::from_millis(500);

/// How long to wait after `failures` failed polls in a row.
pub(crate) fn poll_backoff(failures: u32) -> Duration {
    POLL_BACKOFF_START
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(POLL_BACKOFF_CAP)
}

/// How this worker treats the process-wide `_X_AMZN_TRACE_ID`.
#[derive(Clone, Copy)]
pub(crate) enum TraceEnv {
    /// One invocation at a time: keep it current.
    Set,
    /// Concurrent invocations: one variable cannot be right for all; leave it alone.
    Leave,
}

/// Serves invocations until shutdown.
pub(crate) async fn serve(
    mut service: InvocationService,
    api: &Api,
    config: Arc<Config>,
    trace: TraceEnv,
    mut stopping: Stopping,
) {
    let mut failures: u32 = 0;
    loop {
        let next = tokio::select! {
            biased;
            () = stopping.wait() => return,
            next = api.next() => next,
        };
        let (mut parts, body) = match next {
            Ok(next) => {
                if failures > 0 {
                    tracing::info!(failures, "the Runtime API answers again");
                }
                failures = 0;
                next
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                // The first failure, then every 64th: a local tool that answers each idle
                // poll with 408 must not flood the log.
                if failures == 1 || failures.is_multiple_of(64) {
                    tracing::warn!(%error, failures, "cannot get the next event; retrying");
                }
                tokio::select! {
                    biased;
                    () = stopping.wait() => return,
                    () = tokio::time::sleep(poll_backoff(failures)) => {}
                }
                continue;
            }
        };
        let invocation_id = invocation_id(&parts.headers);
        let (context, deadline) = match context::read(&parts.headers, &config) {
            Ok(read) => read,
            Err(Unreadable::NoRequestId(why)) => {
                tracing::error!(
                    "{why}: the invocation cannot be answered; waiting for the next one"
                );
                continue;
            }
            Err(Unreadable::Header {
                request_id,
                diagnostic,
            }) => {
                tracing::error!(request_id, error_type = %diagnostic.error_type, "{}", diagnostic.error_message);
                api.error(&request_id, invocation_id.as_deref(), &diagnostic)
                    .await;
                continue;
            }
        };
        if let TraceEnv::Set = trace {
            trace_env::set(context.xray_trace_id.as_deref());
        }
        if let Some(deadline) = deadline {
            parts.extensions.insert(deadline);
        }
        let holding = Holding::take(&context.request_id, invocation_id.as_deref());
        let invocation = LambdaInvocation {
            parts,
            body,
            context,
        };
        // The layers' code runs here: its panic is caught like the handler's. At shutdown,
        // what is still running at the cut is dropped (see `shutdown.rs`).
        let called = AssertUnwindSafe(
            holding.scope(async { service.ready().await?.call(invocation).await }),
        )
        .catch_unwind();
        let Some(called) = unless_cut(called, &mut stopping, api, holding.invocation()).await
        else {
            drop(holding);
            continue;
        };
        let failed = match called {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(Diagnostic {
                error_type: error_type(LAYER_ERROR),
                error_message: format!("a tower layer around the handler failed: {error}"),
            }),
            Err(payload) => Some(Diagnostic {
                error_type: error_type(LAYER_PANIC),
                error_message: format!(
                    "a tower layer around the handler panicked: {}",
                    panic_message(&*payload)
                ),
            }),
        };
        let taken = holding.invocation();
        match failed {
            Some(diagnostic) if taken.claim() => {
                tracing::error!(request_id = %taken.request_id, error_type = %diagnostic.error_type, "{}; serving on", diagnostic.error_message);
                answer_with(api, taken, &diagnostic).await;
            }
            Some(diagnostic) => {
                // The handler's answer was posted; the layer failed after it.
                tracing::error!(request_id = %taken.request_id, error_type = %diagnostic.error_type, "{} after the invocation was answered; serving on", diagnostic.error_message);
            }
            None if taken.claim() => {
                // A layer returned without calling the handler and without answering.
                let diagnostic = Diagnostic {
                    error_type: error_type(LAYER_ERROR),
                    error_message: "a tower layer around the handler returned without calling it \
                                    (the invocation had no answer)"
                        .into(),
                };
                tracing::error!(request_id = %taken.request_id, "{}", diagnostic.error_message);
                answer_with(api, taken, &diagnostic).await;
            }
            None => {}
        }
        drop(holding);
    }
}

/// `called`'s output, or `None` if shutdown cut it first: then the invocation has been
/// answered with `lambda_thaw::ShutdownCut` (or it had answered already, and only its
/// deferred work was cut). An answer being posted at the cut is let finish.
async fn unless_cut<F: Future>(
    called: F,
    stopping: &mut Stopping,
    api: &Api,
    taken: &Taken,
) -> Option<F::Output> {
    let mut called = std::pin::pin!(called);
    let mut cut_refused = false;
    loop {
        tokio::select! {
            biased;
            output = &mut called => return Some(output),
            () = stopping.cut(), if !cut_refused => {
                if taken.claim() {
                    answer_cut(api, taken).await;
                    return None;
                }
                if taken.is_answered() {
                    tracing::warn!(request_id = %taken.request_id, "shutdown: deferred work cut");
                    return None;
                }
                // Its answer is being posted: let it go out.
                cut_refused = true;
            }
        }
    }
}

/// Answers an invocation this worker claimed at the cut.
async fn answer_cut(api: &Api, taken: &Taken) {
    let diagnostic = Diagnostic {
        error_type: error_type(SHUTDOWN_CUT),
        error_message: "the environment was shutting down (SIGTERM) and the invocation had not \
                        answered in time: it was cut and its open transactions rolled back, so \
                        that its connections could be closed cleanly before Lambda's SIGKILL"
            .into(),
    };
    tracing::error!(request_id = %taken.request_id, error_type = %diagnostic.error_type, "{}", diagnostic.error_message);
    answer_with(api, taken, &diagnostic).await;
}

/// Posts `diagnostic` as the answer of an invocation this worker has claimed.
async fn answer_with(api: &Api, taken: &Taken, diagnostic: &Diagnostic) {
    // Outside the invocation's scope: it goes out with the next invocation's metrics.
    emf::error(&diagnostic.error_type);
    api.error(
        &taken.request_id,
        taken.invocation_id.as_deref(),
        diagnostic,
    )
    .await;
    taken.answered();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_backoff_doubles_up_to_its_cap_and_stays_there() {
        assert_eq!(poll_backoff(1), Duration::from_millis(10));
        assert_eq!(poll_backoff(2), Duration::from_millis(20));
        assert_eq!(poll_backoff(6), Duration::from_millis(320));
        assert_eq!(poll_backoff(7), POLL_BACKOFF_CAP);
        assert_eq!(poll_backoff(u32::MAX), POLL_BACKOFF_CAP);
    }
}
