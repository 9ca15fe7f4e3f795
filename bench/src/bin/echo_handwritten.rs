//! Benchmark baseline: the same handler written by hand on `lambda_runtime`, its state in
//! a `OnceCell` initialised before the runtime loop (`run_concurrent`: sequential unless
//! `AWS_LAMBDA_MAX_CONCURRENCY` is above 1).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

struct Greeting(String);

static GREETING: OnceCell<Greeting> = OnceCell::const_new();

async fn handle(event: LambdaEvent<Value>, greeting: &Greeting) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload, "greeting": greeting.0 }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let greeting = GREETING
        .get_or_init(|| async { Greeting("hello".into()) })
        .await;
    lambda_runtime::run_concurrent(service_fn(move |event| handle(event, greeting))).await
}
