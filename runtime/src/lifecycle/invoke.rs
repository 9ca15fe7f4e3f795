//! One invocation, from the event to the moment the runtime may ask for the next one:
//!
//! 1. its scope: the defer queue, the usable deadline, the idle gap before it;
//! 2. the handler (which builds the state first under `lazy`), under the deadline guard,
//!    with a panic caught — and, with `early_return = false`, the deferred work too;
//! 3. the answer, posted: the caller has it now;
//! 4. the deferred work, then lambda-thaw's upkeep (`upkeep.rs`), bounded by the deadline;
//! 5. done: only now does the worker ask for the next event, so Lambda cannot freeze
//!    anything above half-way.
//!
//! [`InvokeService`] is the innermost tower service; layers written for `lambda_runtime`
//! (`TracingLayer`, `OpenTelemetryLayer`) wrap it as they wrap `lambda_runtime`'s own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use lambda_runtime::tower::Service;
use lambda_runtime::{Diagnostic, LambdaInvocation};
use lambda_runtime_api_client::BoxError;

use crate::emf::{self, names};
use crate::lifecycle::api::{Api, invocation_id};
use crate::lifecycle::context::Deadline;
use crate::lifecycle::deadline;
use crate::lifecycle::defer::{DeferredOutcome, run_work, run_work_until};
use crate::lifecycle::errors::{DEADLINE_EXCEEDED, HANDLER_PANIC, error_type, panic_message};
use crate::lifecycle::function::{Function, Handler, Options};
use crate::lifecycle::respond::{Reply, respond};
use crate::lifecycle::scope::{discard_current, scope, take_current};
use crate::lifecycle::taken::{Claim, claim_current, current_idle_gap};
use crate::lifecycle::upkeep;

/// The innermost service: runs one invocation and answers it.
#[derive(Clone)]
pub(crate) struct InvokeService {
    pub(crate) options: Options,
    pub(crate) handler: Arc<Handler>,
    pub(crate) api: &'static Api,
}

impl Service<LambdaInvocation> for InvokeService {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        Box::pin(invoke(self.options, &self.handler, self.api, invocation).map(Ok))
    }
}

fn invoke(
    options: Options,
    handler: &Handler,
    api: &'static Api,
    invocation: LambdaInvocation,
) -> impl Future<Output = ()> + Send + use<> {
    let request_id = invocation.context.request_id.clone();
    let invocation_id = invocation_id(&invocation.parts.headers);
    let deadline = invocation.parts.extensions.get::<Deadline>().copied();
    let idle_gap = current_idle_gap();
    let answer = answer(options, handler, invocation, deadline);
    let answered = one_invocation(
        deadline,
        options.margin_ms(),
        idle_gap,
        answer,
        move |reply| async move {
            if let Err(diagnostic) = &reply {
                emf::error(&diagnostic.error_type);
            }
            let claim = claim_current();
            // `Taken`: answered for us (the process is aborting on a panic elsewhere).
            if !matches!(claim, Claim::Taken) {
                respond(api, &request_id, invocation_id.as_deref(), reply).await;
            }
            if let Claim::Ours(taken) = claim {
                taken.answered();
            }
        },
    );
    // The caller has its answer and the deferred work has run: the worker asks for the
    // next event only after this.
    answered.map(drop)
}

/// An invocation, composed once for the loop, the benchmarks and `testing`: inside the
/// invocation's scope, `answer` (the handler, guarded); then `answered` with its outcome
/// (the loop posts it: the caller has it now); then the work the handler deferred, bounded
/// by the deadline. What `answered` returns comes back with what became of that work
/// (`None`: the deadline cut it short).
pub(crate) fn one_invocation<A, F, Fut>(
    deadline: Option<Deadline>,
    margin_ms: u64,
    idle_gap: Duration,
    answer: A,
    answered: F,
) -> impl Future<Output = (Fut::Output, Option<Vec<DeferredOutcome>>)> + use<A, F, Fut>
where
    A: Future,
    F: FnOnce(A::Output) -> Fut,
    Fut: Future,
{
    let invocation = async move {
        let started = emf::clock();
        if emf::first_invocation() {
            emf::count(names::COLD_START, 1);
        }
        upkeep::prepare().await;
        let output = answered(answer.await).await;
        emf::duration(names::INVOCATION_DURATION, started);
        let work = take_current();
        let deferring = !work.is_empty();
        let started = emf::clock();
        let deferred = run_work_until(work, deadline).await;
        if deferring {
            emf::duration(names::DEFERRED_DURATION, started);
        }
        // lambda-thaw's own (the connection governor), after the user's: also off the
        // response path and before the freeze.
        run_work_until(upkeep::work(), deadline).await;
        // After the response and the deferred work, before the next event: never on the
        // response path, never after the freeze.
        emf::flush();
        (output, deferred)
    };
    scope(deadline, margin_ms, idle_gap, emf::scope(invocation))
}

/// The handler's answer under the guard: its reply, or the error to report. Not an
/// `async fn`: the invocation goes into the handler's (boxed) future at once, so the
/// future returned here does not carry it, nor a copy of anything else it does not need.
fn answer(
    options: Options,
    handler: &Handler,
    invocation: LambdaInvocation,
    deadline: Option<Deadline>,
) -> impl Future<Output = Result<Reply, Diagnostic>> + Send + use<> {
    let early_return = options.early_return;
    let handler = AssertUnwindSafe(handler(invocation)).catch_unwind();
    let guarded = deadline::guard(options.margin_ms(), deadline, async move {
        let reply = match handler.await {
            Ok(reply) => reply,
            Err(payload) => Err(panicked(&*payload)),
        };
        if !early_return {
            // Node's default: the response waits for the deferred work.
            let work = take_current();
            if !work.is_empty() {
                let _ = Box::pin(run_work(work)).await;
            }
        }
        reply
    });
    guarded.map(|outcome| match outcome {
        Ok(reply) => reply,
        Err(cancelled) => Err(deadline_exceeded(cancelled.margin)),
    })
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> Diagnostic {
    Diagnostic {
        error_type: error_type(HANDLER_PANIC),
        error_message: format!("Lambda panicked: {}", panic_message(payload)),
    }
}

fn deadline_exceeded(margin: Duration) -> Diagnostic {
    // Work the handler deferred belongs to an invocation that did not happen.
    let dropped = discard_current();
    emf::count(names::DEADLINE_CANCELLED, 1);
    Diagnostic {
        error_type: error_type(DEADLINE_EXCEEDED),
        error_message: format!(
            "the handler was cancelled {} ms before the invocation's deadline so that this error could \
             be reported instead of Lambda killing the environment; its open transactions are rolled \
             back and its {dropped} deferred task(s) will not run. Raise the function's timeout, make \
             the handler (or a lazy init) faster, or tune `#[handler(deadline_margin = \"…\")]`",
            margin.as_millis()
        ),
    }
}

/// One invocation without the HTTP: the handler, guarded, then its deferred work — what
/// the benchmarks compare with a hand-written service, in process.
pub fn invoke_in_process(
    function: &Function,
    invocation: LambdaInvocation,
) -> impl Future<Output = Result<Reply, Diagnostic>> + Send + use<> {
    let deadline = invocation.parts.extensions.get::<Deadline>().copied();
    let margin_ms = function.options.margin_ms();
    let answer = answer(function.options, &function.handler, invocation, deadline);
    one_invocation(
        deadline,
        margin_ms,
        Duration::ZERO,
        answer,
        std::future::ready,
    )
    .map(|(reply, _deferred)| reply)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use lambda_runtime::Context;

    use super::*;
    use crate::lifecycle::defer::defer;
    use crate::lifecycle::function::Setup;

    static DEFERRED_RAN: AtomicUsize = AtomicUsize::new(0);

    /// Defers two tasks, then takes longer than the invocation has.
    async fn too_slow() -> Result<Reply, Diagnostic> {
        for _ in 0..2 {
            let queued = defer(async {
                DEFERRED_RAN.fetch_add(1, Ordering::SeqCst);
            });
            assert!(queued.is_ok(), "inside the invocation's scope");
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(Reply::Buffered(b"null".to_vec()))
    }

    fn invocation_with(left: Duration) -> LambdaInvocation {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let deadline = (now + left).as_millis() as u64;
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.extensions.insert(Deadline(deadline));
        let mut context = Context::default();
        context.deadline = deadline;
        context.request_id = "cancelled".into();
        LambdaInvocation {
            parts,
            body: Bytes::from_static(b"{}"),
            context,
        }
    }

    /// The deadline guard cancels the handler: the caller is told why and how many
    /// deferred tasks were dropped, and none of them runs — not after the answer either.
    #[tokio::test]
    async fn a_cancelled_handler_s_deferred_work_is_dropped_and_counted() {
        let options = Options {
            handler_name: "too_slow",
            init_name: None,
            lazy: true,
            early_return: true,
            deadline_margin_ms: Some(100),
            metrics: None,
        };
        let handler: Handler = Box::new(|_| Box::pin(too_slow()));
        let function = Function::new(options, None, handler, None, Setup::default());
        let reply = invoke_in_process(&function, invocation_with(Duration::from_millis(300))).await;
        let Err(diagnostic) = reply else {
            panic!("the handler was not cancelled")
        };
        assert_eq!(diagnostic.error_type, "lambda_thaw::DeadlineExceeded");
        assert!(
            diagnostic
                .error_message
                .contains("its 2 deferred task(s) will not run"),
            "{}",
            diagnostic.error_message
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(DEFERRED_RAN.load(Ordering::SeqCst), 0, "dropped work ran");
    }
}
