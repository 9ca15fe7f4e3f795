//! What a team brings of its own: JSON logs through `tracing-subscriber`, and tower layers
//! around every invocation — `lambda_runtime`'s `OpenTelemetryLayer` (whose service is not
//! `Clone`) and one of its own that counts invocations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use lambda_runtime::layers::OpenTelemetryLayer;
use lambda_thaw::lambda_runtime::LambdaInvocation;
use lambda_thaw::lambda_runtime::tower::{Layer, Service};

/// Installs a JSON subscriber: one JSON object per log line, at `RUST_LOG` (default `info`).
pub fn json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();
}

/// The layers around every invocation: counting outside, OpenTelemetry inside.
#[must_use]
pub fn layers() -> (Counting, OpenTelemetryLayer<fn()>) {
    (Counting::default(), OpenTelemetryLayer::new(flush as fn()))
}

/// What a real function would do after each invocation: flush its exporter.
fn flush() {
    tracing::info!("telemetry flushed");
}

/// A layer that counts the invocations it wraps and logs the count.
#[derive(Debug, Clone, Default)]
pub struct Counting {
    seen: Arc<AtomicU64>,
}

impl<S> Layer<S> for Counting {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            seen: self.seen.clone(),
        }
    }
}

/// The service [`Counting`] makes.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    seen: Arc<AtomicU64>,
}

impl<S> Service<LambdaInvocation> for Counted<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let seen = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(seen, request_id = %invocation.context.request_id, "invocation counted");
        self.inner.call(invocation)
    }
}
