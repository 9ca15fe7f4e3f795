//! [`DeferLayer`]: what earlier versions offered for `lambda_runtime::Runtime`, kept working
//! and deprecated so that an upgrade says where it went instead of failing to resolve.

#![allow(deprecated)] // the items below are the deprecated ones

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lambda_runtime::LambdaInvocation;
use lambda_runtime::tower::{Layer, Service};

use crate::lifecycle::context::Deadline;
use crate::lifecycle::invoke::one_invocation;

/// Gives each invocation of a `lambda_runtime::Runtime` a [`defer`](crate::defer) queue and
/// runs it after the inner service has posted the response, bounded by the deadline.
#[deprecated(
    since = "0.1.0",
    note = "lambda-thaw runs its own invocation loop: `#[handler]` or `lambda_thaw::Builder` give every invocation its defer queue, the deadline guard and the freeze-aware idle gap; put your own tower layers in `#[handler(layer = …)]` or `Builder::layer`"
)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DeferLayer;

impl<S> Layer<S> for DeferLayer {
    type Service = DeferService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeferService { inner }
    }
}

/// The service [`DeferLayer`] makes.
#[deprecated(
    since = "0.1.0",
    note = "see `DeferLayer`: `#[handler]` or `lambda_thaw::Builder` replace it"
)]
#[derive(Clone, Debug)]
pub struct DeferService<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for DeferService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        // `lambda_runtime` puts the deadline in the context (0: none).
        let deadline = Some(invocation.context.deadline)
            .filter(|&ms| ms > 0)
            .map(Deadline);
        // The inner service posts the answer; the work runs after it, before `next`.
        let posted = self.inner.call(invocation);
        Box::pin(async move {
            let (result, _deferred) =
                one_invocation(deadline, 0, Duration::ZERO, posted, std::future::ready).await;
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use lambda_runtime::Context as LambdaContext;

    use super::*;
    use crate::lifecycle::defer::defer;

    /// Work deferred inside the wrapped service runs once the service has answered.
    #[tokio::test]
    async fn work_deferred_in_the_inner_service_runs_after_it_answered() {
        let ran = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let (seen_ran, seen_answered) = (ran.clone(), answered.clone());
        let inner = lambda_runtime::tower::service_fn(move |_: LambdaInvocation| {
            let (ran, answered) = (seen_ran.clone(), seen_answered.clone());
            async move {
                let posted = answered.clone();
                let queued = defer(async move {
                    // The answer was posted before the work started.
                    assert_eq!(posted.load(Ordering::SeqCst), 1);
                    ran.fetch_add(1, Ordering::SeqCst);
                });
                assert!(queued.is_ok(), "the layer gives the invocation a queue");
                // Stands for posting the response.
                answered.fetch_add(1, Ordering::SeqCst);
                Ok::<(), lambda_runtime::Error>(())
            }
        });
        let mut service = DeferLayer.layer(inner);
        let (parts, ()) = http::Response::new(()).into_parts();
        let invocation = LambdaInvocation {
            parts,
            body: Bytes::from_static(b"{}"),
            context: LambdaContext::default(),
        };
        service.call(invocation).await.unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the deferred work ran");
    }
}
