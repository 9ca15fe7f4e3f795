//! Calling a handler the way Lambda would, in a unit test: a realistic [`Context`]
//! (request id, deadline, function ARN, X-Ray trace id in Lambda's shape, the function's
//! configuration), the invocation's scope (so [`defer`](crate::defer) works), the deferred
//! work run *after* the handler returned — with what became of each task observable —
//! and, optionally, the deadline guard.
//!
//! ```
//! use lambda_thaw::testing::{DeferredOutcome, Invocation};
//! use lambda_thaw::{Error, LambdaEvent};
//!
//! struct Db;
//!
//! async fn handle(event: LambdaEvent<String>, _db: &'static Db) -> Result<usize, Error> {
//!     let len = event.payload.len();
//!     lambda_thaw::defer(async move { println!("audited {len}") })?;
//!     Ok(len)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! static DB: Db = Db;
//! let invocation = Invocation::new();
//! let event = invocation.event("espresso".to_string());
//! let invoked = invocation.run(handle(event, &DB)).await;
//! // or in one go: invocation.run(handle(invocation.event(…), &DB))
//! assert_eq!(invoked.deferred, vec![DeferredOutcome::Done]);
//! assert_eq!(invoked.response().unwrap(), 8);
//! # });
//! ```
//!
//! HTTP handlers (feature `http`) get requests shaped by each event source with
//! [`Invocation::request`]; see [`Source`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_runtime::{Config, Context, LambdaEvent};

use crate::lifecycle::context::{Deadline, now_ms};
use crate::lifecycle::deadline;
pub use crate::lifecycle::defer::DeferredOutcome;
use crate::lifecycle::invoke::one_invocation;
use crate::lifecycle::scope::discard_current;

/// One invocation to call a handler with. [`Invocation::new`] gives Lambda's defaults.
#[derive(Debug, Clone)]
pub struct Invocation {
    context: Context,
    deadline_margin: Option<Duration>,
}

impl Default for Invocation {
    fn default() -> Self {
        Self::new()
    }
}

static REQUESTS: AtomicU64 = AtomicU64::new(1);

impl Invocation {
    /// An invocation of a function named `test-function` (128 MB, `$LATEST`), with a fresh
    /// request id, Lambda's default 3 s timeout from now, and an X-Ray trace id in
    /// Lambda's shape. No deadline guard (see [`Invocation::deadline_guard`]).
    pub fn new() -> Self {
        let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
        let mut context = Context::default();
        context.request_id = format!("00000000-0000-4000-8000-{n:012x}");
        context.deadline = now_ms() + 3_000;
        context.invoked_function_arn =
            "arn:aws:lambda:us-east-1:000000000000:function:test-function".into();
        context.xray_trace_id = Some(format!(
            "Root=1-{:08x}-{n:024x};Parent={n:016x};Sampled=0",
            now_ms() / 1000
        ));
        context.env_config = Arc::new(Config {
            function_name: "test-function".into(),
            memory: 128,
            version: "$LATEST".into(),
            log_stream: "2026/01/01/[$LATEST]0000000000000000".into(),
            log_group: "/aws/lambda/test-function".into(),
        });
        Self {
            context,
            deadline_margin: None,
        }
    }

    /// The invocation's deadline this long from now (the function's timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.context.deadline = now_ms() + timeout.as_millis() as u64;
        self
    }

    /// Runs the handler under the deadline guard, as `#[handler]` does: cancelled `margin`
    /// before the deadline ([`DEFAULT_DEADLINE_MARGIN`](crate::DEFAULT_DEADLINE_MARGIN) is
    /// the macro's default).
    pub fn deadline_guard(mut self, margin: Duration) -> Self {
        self.deadline_margin = Some(margin);
        self
    }

    /// The invocation's context, to build the event or request from.
    pub fn context(&self) -> Context {
        self.context.clone()
    }

    /// `payload` as the event of this invocation.
    pub fn event<T>(&self, payload: T) -> LambdaEvent<T> {
        LambdaEvent::new(payload, self.context())
    }

    /// Runs `handler` (the handler's future, made with this invocation's event or context)
    /// as this invocation: inside its scope, under the guard if asked for; then the work it
    /// deferred, bounded by the deadline, as after Lambda's response.
    pub async fn run<F: Future>(&self, handler: F) -> Invoked<F::Output> {
        let deadline = Some(Deadline(self.context.deadline));
        let margin = self.deadline_margin.map_or(0, |m| m.as_millis() as u64);
        // Cancelled: its deferred work belongs to an invocation that did not happen.
        let answer = async move {
            deadline::guard(margin, deadline, handler)
                .await
                .map_err(|_| discard_current())
        };
        let (answer, outcomes) =
            one_invocation(deadline, margin, Duration::ZERO, answer, std::future::ready).await;
        Invoked {
            dropped: answer.as_ref().err().copied().unwrap_or(0),
            response: answer.ok(),
            deferred_cut_short: outcomes.is_none(),
            deferred: outcomes.unwrap_or_default(),
        }
    }
}

/// What an [`Invocation`] did.
#[derive(Debug)]
#[must_use]
pub struct Invoked<R> {
    /// What the handler returned; `None` if the deadline guard cancelled it.
    pub response: Option<R>,
    /// What became of each task the handler deferred (and the tasks they deferred), run
    /// after the handler returned.
    pub deferred: Vec<DeferredOutcome>,
    /// The deferred work was still running just before the deadline and was cancelled.
    pub deferred_cut_short: bool,
    /// Deferred tasks dropped because the guard cancelled the handler.
    pub dropped: usize,
}

impl<R> Invoked<R> {
    /// What the handler returned.
    ///
    /// # Panics
    ///
    /// If the deadline guard cancelled the handler.
    pub fn response(self) -> R {
        match self.response {
            Some(response) => response,
            None => panic!("the deadline guard cancelled the handler before it answered"),
        }
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http_sources::Source;

#[cfg(feature = "http")]
mod http_sources;
#[cfg(feature = "idempotency")]
#[cfg_attr(docsrs, doc(cfg(feature = "idempotency")))]
pub use idempotent::Idempotent;
#[cfg(feature = "idempotency")]
mod idempotent;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::deadline::DEFAULT_DEADLINE_MARGIN;
    use crate::lifecycle::defer::defer;

    #[tokio::test]
    async fn deferred_work_runs_after_the_handler_and_its_outcomes_are_kept() {
        let invoked = Invocation::new()
            .run(async {
                defer(async {}).unwrap();
                defer(async { Err::<(), _>("queue full") }).unwrap();
                defer(async {
                    if now_ms() > 0 {
                        panic!("boom");
                    }
                })
                .unwrap();
                7
            })
            .await;
        assert_eq!(invoked.response, Some(7));
        assert_eq!(
            invoked.deferred,
            vec![
                DeferredOutcome::Done,
                DeferredOutcome::Failed("queue full".into()),
                DeferredOutcome::Panicked("boom".into())
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_guard_is_there_when_asked_for() {
        let slow = async {
            defer(async {}).unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        };
        let invoked = Invocation::new()
            .timeout(Duration::from_secs(2))
            .deadline_guard(DEFAULT_DEADLINE_MARGIN)
            .run(slow)
            .await;
        assert!(invoked.response.is_none());
        assert_eq!(invoked.dropped, 1);
    }

    #[test]
    fn the_context_looks_like_lambdas() {
        let context = Invocation::new().context();
        assert!(context.deadline > now_ms());
        assert!(context.xray_trace_id.unwrap().starts_with("Root=1-"));
        assert_eq!(context.env_config.function_name, "test-function");
        assert_ne!(Invocation::new().context().request_id, context.request_id);
    }

    #[cfg(feature = "http")]
    #[test]
    fn every_source_gives_a_request_with_the_context() {
        use lambda_http::RequestExt;
        for source in [
            Source::ApiGatewayV1,
            Source::ApiGatewayV2,
            Source::Alb,
            Source::FunctionUrl,
        ] {
            let invocation = Invocation::new();
            let request = invocation.request(
                source,
                "POST",
                "/orders?item=tea",
                Some(r#"{"item":"tea"}"#),
            );
            assert_eq!(request.method(), "POST", "{source:?}");
            assert!(
                request.uri().path().ends_with("/orders"),
                "{source:?}: {}",
                request.uri()
            );
            assert_eq!(
                request
                    .query_string_parameters_ref()
                    .and_then(|q| q.first("item")),
                Some("tea"),
                "{source:?}"
            );
            assert_eq!(
                request.lambda_context_ref().unwrap().request_id,
                invocation.context().request_id
            );
            let body = std::str::from_utf8(request.body()).unwrap();
            assert_eq!(body, r#"{"item":"tea"}"#, "{source:?}");
        }
    }
}
