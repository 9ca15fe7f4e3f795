//! Benchmark 1, framework overhead in process: one invocation from its raw event to its
//! serialized answer, without the HTTP — lambda-thaw's typed shim and per-invocation core
//! (scope, deadline guard, panic guard, deferred-work queue) against what `lambda_runtime`
//! does per invocation around a hand-written service whose state is in a `OnceCell`
//! (deserialize, catch the panic, call, serialize). Calls per second on a trivial handler;
//! the two run in alternating rounds so drift hits both alike.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::FutureExt;
use lambda_runtime::{Context, Error, LambdaEvent, LambdaInvocation, Service, service_fn};
use lambda_thaw::__bench::{Function, invoke_in_process};
use serde_json::Value;

use crate::report::{Row, median};

struct Greeting(String);

static HANDWRITTEN_STATE: tokio::sync::OnceCell<Greeting> = tokio::sync::OnceCell::const_new();

async fn handle(event: LambdaEvent<Value>, greeting: &Greeting) -> Result<usize, Error> {
    Ok(event.payload.as_str().map_or(0, str::len) + greeting.0.len())
}

const BODY: &[u8] = br#""payload""#;

fn context() -> Context {
    let mut context = Context::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now + 3_000;
    context.request_id = "bench".into();
    context
}

fn invocation() -> LambdaInvocation {
    let (parts, ()) = http::Response::new(()).into_parts();
    LambdaInvocation {
        parts,
        body: Bytes::from_static(BODY),
        context: context(),
    }
}

fn thaw_function() -> Function {
    // What `#[handler(init = setup)]` expands to.
    lambda_thaw::Builder::new()
        .name("handle")
        .init("setup", || async {
            Ok::<_, Error>(Greeting("hello".into()))
        })
        .function(handle)
}

async fn thaw_round(function: &Function, calls: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        let output = invoke_in_process(function, invocation()).await;
        std::hint::black_box(output.is_ok());
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
        // What lambda_runtime does around the service: deserialize (with the path to the
        // field at fault, as its `deserializer.rs` does), catch a panic, serialize.
        let invocation = invocation();
        let body = &mut serde_json::Deserializer::from_slice(&invocation.body);
        let payload: Value = serde_path_to_error::deserialize(body).unwrap();
        let event = LambdaEvent::new(payload, invocation.context);
        let output = AssertUnwindSafe(service.call(event)).catch_unwind().await;
        let body = serde_json::to_vec(&output.unwrap().unwrap()).unwrap();
        std::hint::black_box(body);
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
    let function = thaw_function();
    runtime.block_on(async {
        // Warm up both paths (and initialise both states).
        thaw_round(&function, calls / 10 + 1).await;
        handwritten_round(calls / 10 + 1).await;
        for _ in 0..rounds {
            thaw.push(calls as f64 / thaw_round(&function, calls).await.as_secs_f64());
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
        subject_name: "lambda-thaw shim + core".into(),
        baseline_name: "lambda_runtime's per-invocation work around a OnceCell service".into(),
    }]
}

/// Benchmark 9, in process: one invocation of a handler that records a counter and a
/// histogram, metrics off and then on (documents built, not printed). Nanoseconds per
/// invocation. Not alternating: metrics, once on, stay on for the process.
pub fn metrics_cost(calls: u64, rounds: usize) -> Vec<Row> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let function = lambda_thaw::Builder::new()
        .name("handle")
        .init("setup", || async {
            Ok::<_, Error>(Greeting("hello".into()))
        })
        .function(|event: LambdaEvent<Value>, greeting: &Greeting| {
            lambda_thaw::metrics::counter!("echoes").increment(1);
            lambda_thaw::metrics::histogram!("payload_bytes").record(BODY.len() as f64);
            handle(event, greeting)
        });
    let (mut off, mut on) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        thaw_round(&function, calls / 10 + 1).await;
        for _ in 0..rounds {
            off.push(thaw_round(&function, calls).await.as_nanos() as f64 / calls as f64);
        }
        lambda_thaw::__bench::enable_metrics_discarding("LambdaThawBench").unwrap();
        thaw_round(&function, calls / 10 + 1).await;
        for _ in 0..rounds {
            on.push(thaw_round(&function, calls).await.as_nanos() as f64 / calls as f64);
        }
    });
    vec![Row {
        section: "9",
        what: "in process, per invocation with a counter and a histogram (median of rounds; documents built, not printed)".into(),
        tag: "ns per invocation".into(),
        subject: median(&mut on),
        baseline: median(&mut off),
        unit: "ns",
        subject_name: "metrics on".into(),
        baseline_name: "metrics off".into(),
    }]
}
