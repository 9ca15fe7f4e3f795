//! Benchmark 1, framework overhead in process: the generated adapter's path (state lookup, defer
//! queue, deadline guard) against a hand-written `lambda_runtime` service whose state is
//! in a `OnceCell` — calls per second on a trivial handler, no HTTP. The two run in
//! alternating rounds so drift hits both alike.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, Error, LambdaEvent, Service, service_fn};
use lambda_thaw::__private::{Options, invocation, with_defer_queue};
use lambda_thaw::StateCell;
use serde_json::Value;

use crate::report::{Row, median};

struct Greeting(String);

static THAW_STATE: StateCell<Greeting> = StateCell::new();
static HANDWRITTEN_STATE: tokio::sync::OnceCell<Greeting> = tokio::sync::OnceCell::const_new();

async fn handle(event: LambdaEvent<Value>, greeting: &Greeting) -> Result<usize, Error> {
    Ok(event.payload.as_str().map_or(0, str::len) + greeting.0.len())
}

fn event() -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now + 3_000;
    context.request_id = "bench".into();
    LambdaEvent::new(Value::String("payload".into()), context)
}

const OPTIONS: Options = Options {
    handler_name: "handle",
    init_name: "setup",
    lazy: false,
    early_return: true,
    deadline_margin_ms: 500,
};

async fn thaw_round(calls: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        let output = with_defer_queue(invocation(
            OPTIONS,
            &THAW_STATE,
            || async { Ok(Greeting("hello".into())) },
            handle,
            event(),
        ))
        .await;
        std::hint::black_box(output.unwrap());
    }
    started.elapsed()
}

async fn handwritten_round(calls: u64) -> Duration {
    let mut service = service_fn(|event: LambdaEvent<Value>| async {
        let greeting = HANDWRITTEN_STATE
            .get_or_init(|| async { Greeting("hello".into()) })
            .await;
        handle(event, greeting).await
    });
    let started = Instant::now();
    for _ in 0..calls {
        let output = service.call(event()).await;
        std::hint::black_box(output.unwrap());
    }
    started.elapsed()
}

/// Runs the comparison: `rounds` alternating rounds of `calls` calls each.
pub fn run(calls: u64, rounds: usize) -> Vec<Row> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut thaw, mut handwritten) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        // Warm up both paths (and initialise both states).
        thaw_round(calls / 10 + 1).await;
        handwritten_round(calls / 10 + 1).await;
        for _ in 0..rounds {
            thaw.push(calls as f64 / thaw_round(calls).await.as_secs_f64());
            handwritten.push(calls as f64 / handwritten_round(calls).await.as_secs_f64());
        }
    });
    vec![Row {
        section: "1",
        what: "in-process invocations per second (median of rounds)".into(),
        tag: "calls per second".into(),
        subject: median(&mut thaw),
        baseline: median(&mut handwritten),
        unit: "calls/s",
        subject_name: "lambda-thaw adapter".into(),
        baseline_name: "hand-written OnceCell service".into(),
    }]
}
