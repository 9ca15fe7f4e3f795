//! A `#[handler]` behind a tower layer that misbehaves when the event asks it to, with
//! `{"layer": "…"}`: `panic_in_call` (panics while making the future), `panic_in_future`,
//! `fail` (an `Err` without calling the handler), `skip` (`Ok` without calling it),
//! `fail_after` (calls the handler, then fails). Any other event passes through.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use lambda_runtime::LambdaInvocation;
use lambda_runtime::tower::{Layer, Service};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};

static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The layer `layer = faulty_layer` installs.
struct FaultyLayer;

impl<S> Layer<S> for FaultyLayer {
    type Service = Faulty<S>;

    fn layer(&self, inner: S) -> Faulty<S> {
        Faulty(inner)
    }
}

struct Faulty<S>(S);

type Answer = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

impl<S> Service<LambdaInvocation> for Faulty<S>
where
    S: Service<LambdaInvocation, Response = (), Error = Error>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = Error;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Answer {
        let fault = serde_json::from_slice::<Value>(&invocation.body)
            .ok()
            .and_then(|event| event["layer"].as_str().map(str::to_owned));
        match fault.as_deref() {
            Some("panic_in_call") => panic!("the layer panicked while making its future"),
            Some("panic_in_future") => Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                panic!("the layer's future panicked");
            }),
            Some("fail") => Box::pin(async { Err("the layer refused the invocation".into()) }),
            Some("skip") => Box::pin(async { Ok(()) }),
            Some("fail_after") => {
                let handled = self.0.call(invocation);
                Box::pin(async move {
                    handled.await?;
                    Err("the layer failed after the handler answered".into())
                })
            }
            _ => Box::pin(self.0.call(invocation)),
        }
    }
}

fn faulty_layer() -> FaultyLayer {
    FaultyLayer
}

#[handler(layer = faulty_layer)]
async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let invocation = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(ms) = event.payload["sleep_ms"].as_u64() {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Ok(json!({ "pid": std::process::id(), "invocation": invocation }))
}
