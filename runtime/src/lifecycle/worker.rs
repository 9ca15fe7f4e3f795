//! The loop: ask for the next event, read it, hand it to the service, repeat — one per
//! concurrent invocation the environment allows.
//!
//! Nothing an invocation carries can end it: an unreadable header is answered as an error
//! for that request (`context.rs`), a handler's error or panic is its answer, an error of a
//! tower layer is logged. Only a Runtime API that stays unreachable ends it, after
//! `GIVE_UP_AFTER` failed polls in a row (the environment is gone then).

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::tower::{Service, ServiceExt};
use lambda_runtime::{Config, LambdaInvocation};
use lambda_runtime_api_client::BoxError;

use crate::builder::InvocationService;
use crate::lifecycle::api::{Api, INVOCATION_ID};
use crate::lifecycle::context::{self, Unreadable};
use crate::lifecycle::shutdown::Stopping;
use crate::lifecycle::trace_env;

/// Failed `GET next` polls in a row after which the worker gives up.
const GIVE_UP_AFTER: u32 = 10;

/// How this worker treats the process-wide `_X_AMZN_TRACE_ID`.
#[derive(Clone, Copy)]
pub(crate) enum TraceEnv {
    /// One invocation at a time: keep it current.
    Set,
    /// Concurrent invocations: one variable cannot be right for all; leave it alone.
    Leave,
}

/// Serves invocations until shutdown (returns `Ok`) or until the Runtime API cannot be
/// reached (`Err`).
pub(crate) async fn serve(
    mut service: InvocationService,
    api: &Api,
    config: Arc<Config>,
    trace: TraceEnv,
    mut stopping: Stopping,
) -> Result<(), BoxError> {
    let mut failures = 0;
    loop {
        let next = tokio::select! {
            biased;
            () = stopping.wait() => return Ok(()),
            next = api.next() => next,
        };
        let (mut parts, body) = match next {
            Ok(next) => {
                failures = 0;
                next
            }
            Err(error) => {
                failures += 1;
                if failures >= GIVE_UP_AFTER {
                    return Err(format!(
                        "the Runtime API failed {failures} polls in a row; the last: {error}"
                    )
                    .into());
                }
                tracing::warn!(%error, failures, "cannot get the next event; retrying");
                tokio::time::sleep(Duration::from_millis(10 << failures.min(6))).await;
                continue;
            }
        };
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
                let invocation_id = parts
                    .headers
                    .get(INVOCATION_ID)
                    .and_then(|v| v.to_str().ok());
                api.error(&request_id, invocation_id, &diagnostic).await;
                continue;
            }
        };
        if let TraceEnv::Set = trace {
            trace_env::set(context.xray_trace_id.as_deref());
        }
        if let Some(deadline) = deadline {
            parts.extensions.insert(deadline);
        }
        let invocation = LambdaInvocation {
            parts,
            body,
            context,
        };
        let result = match service.ready().await {
            Ok(ready) => ready.call(invocation).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            // A layer failed; the invocation may be unanswered, the environment is not lost.
            tracing::error!(%error, "a layer around the handler failed; serving on");
        }
    }
}
