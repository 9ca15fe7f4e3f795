//! Benchmark fixture: the echo handler recording a counter and a histogram per invocation,
//! with CloudWatch metrics on when `BENCH_METRICS=on` and off otherwise — the same binary,
//! so the two sides of the comparison differ only in the option.

use lambda_thaw::metrics::{counter, histogram};
use lambda_thaw::{Builder, Error, LambdaEvent};
use serde_json::{Value, json};

struct Greeting(String);

async fn handle(event: LambdaEvent<Value>, greeting: &'static Greeting) -> Result<Value, Error> {
    counter!("echoes").increment(1);
    histogram!("payload_bytes").record(event.payload.to_string().len() as f64);
    Ok(json!({ "echo": event.payload, "greeting": greeting.0 }))
}

fn main() -> std::process::ExitCode {
    let builder = Builder::new().name("handle").init("setup", || async {
        Ok::<_, Error>(Greeting("hello".into()))
    });
    let builder = if std::env::var("BENCH_METRICS").as_deref() == Ok("on") {
        builder.metrics("LambdaThawBench")
    } else {
        builder
    };
    builder.run(handle)
}
