//! [`InvocationLayer`]: the tower layers [`Builder::layer`](crate::Builder::layer) and
//! `#[handler(layer = …)]` put around every invocation, and how one layered service is
//! shared by the environment's workers.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use lambda_runtime::LambdaInvocation;
use lambda_runtime::tower::util::BoxCloneService;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime_api_client::BoxError;

use crate::lifecycle::function::InvocationService;

/// A tower layer that can wrap Lambda invocations: `Layer<InvocationService>` whose
/// service is `lambda_runtime`'s `Service<LambdaInvocation, Response = (), Error = BoxError>`
/// shape and `Send`. Implemented for every such layer; what [`Builder::layer`](crate::Builder::layer) takes.
///
/// The service need not be `Clone` (`lambda_runtime`'s `OpenTelemetryService` is not): one
/// instance serves every concurrent worker of the environment, so state it keeps — the
/// OpenTelemetry layer's "cold start" flag — is per environment, as Lambda means it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tower layer over Lambda invocations",
    label = "expected a layer that wraps `lambda_thaw::InvocationService`",
    note = "`layer = f` calls `f()`: it must return a `tower::Layer<lambda_thaw::InvocationService>` whose service is `Service<LambdaInvocation, Response = (), Error = lambda_thaw::Error> + Send` (as `lambda_runtime`'s `TracingLayer` and `OpenTelemetryLayer` are)"
)]
pub trait InvocationLayer: Send + 'static {
    /// Wraps `inner`, erasing the result's type.
    fn wrap(self, inner: InvocationService) -> InvocationService;
}

#[diagnostic::do_not_recommend]
impl<L> InvocationLayer for L
where
    L: Layer<InvocationService> + Send + 'static,
    L::Service: Service<LambdaInvocation, Response = (), Error = BoxError> + Send + 'static,
    <L::Service as Service<LambdaInvocation>>::Future: Send + 'static,
{
    fn wrap(self, inner: InvocationService) -> InvocationService {
        BoxCloneService::new(Shared(Arc::new(Mutex::new(self.layer(inner)))))
    }
}

/// One layered service shared by the workers. The lock is held only while the service is
/// asked whether it is ready and while it *makes* an invocation's future, never while the
/// future runs, so concurrent invocations still overlap.
struct Shared<S>(Arc<Mutex<S>>);

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S> Service<LambdaInvocation> for Shared<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
{
    type Response = ();
    type Error = BoxError;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> S::Future {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .call(invocation)
    }
}
