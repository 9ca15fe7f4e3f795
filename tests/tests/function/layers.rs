//! A tower layer around the handler (`layer = …`, `Builder::layer`) is held to the handler's
//! standard, at every concurrency: its panic — while making its future or inside it — and
//! its `Err` become that invocation's error answer with a stable `errorType`, a layer that
//! returns without calling the handler does not leave the caller waiting, and the
//! environment serves on in the same process.

use std::time::Duration;

use futures_util::future::join_all;
use lambda_thaw_emulator::{Environment, FunctionConfig, Outcome};
use serde_json::Value;

fn layered(concurrency: u32) -> Environment {
    Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-layered"))
            .max_concurrency(concurrency)
            // An unanswered invocation shows as a timeout, not as a hang of the test.
            .timeout(Duration::from_secs(5)),
    )
}

/// Each fault, and the `errorType` its invocation must be answered with.
const FAULTS: [(&str, &str, &str); 4] = [
    (
        "panic_in_call",
        "lambda_thaw::LayerPanic",
        "while making its future",
    ),
    (
        "panic_in_future",
        "lambda_thaw::LayerPanic",
        "future panicked",
    ),
    ("fail", "lambda_thaw::LayerError", "refused the invocation"),
    ("skip", "lambda_thaw::LayerError", "without calling it"),
];

async fn faults_are_answered_and_the_environment_serves_on(concurrency: u32) {
    let env = layered(concurrency);
    let first = env.invoke("{}").await;
    let pid = first.outcome.json().expect("a response")["pid"].clone();
    for (fault, error_type, says) in FAULTS {
        // Twice as many faulty invocations as workers: each worker meets the fault twice.
        let event = format!(r#"{{"layer":"{fault}"}}"#);
        let faulty = (0..concurrency * 2).map(|_| env.invoke(event.clone()));
        for record in join_all(faulty).await {
            let error = record.outcome.error().unwrap_or_else(|| {
                panic!("{fault} at concurrency {concurrency}: {:?}", record.outcome)
            });
            assert_eq!(error.error_type, error_type, "{fault}: {error:?}");
            assert!(error.error_message.contains(says), "{fault}: {error:?}");
        }
        // Every worker is still there: as many invocations at once as the environment runs.
        let fine = (0..concurrency).map(|_| env.invoke(r#"{"sleep_ms":50}"#));
        for record in join_all(fine).await {
            assert!(
                record.cold_start.is_none(),
                "{fault} at concurrency {concurrency} cost the environment"
            );
            let body = record
                .outcome
                .json()
                .unwrap_or_else(|| panic!("after {fault}: {:?}", record.outcome));
            assert_eq!(body["pid"], pid, "after {fault}");
        }
    }
    assert_eq!(env.starts(), 1);
    env.shutdown().await;
    // Only the invocations a layer left unanswered were answered by the worker: one answer
    // each, none for an invocation the handler had answered.
    let skipped = (concurrency * 2) as usize;
    let worker_answers = env
        .logs()
        .wait_for_count(
            "returned without calling it",
            skipped,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(worker_answers.len(), skipped, "{}", env.logs().text());
}

#[tokio::test]
async fn a_failing_layer_at_concurrency_1() {
    faults_are_answered_and_the_environment_serves_on(1).await;
}

#[tokio::test]
async fn a_failing_layer_at_concurrency_2() {
    faults_are_answered_and_the_environment_serves_on(2).await;
}

#[tokio::test]
async fn a_failing_layer_at_concurrency_4() {
    faults_are_answered_and_the_environment_serves_on(4).await;
}

/// A layer that fails after the handler answered: the caller keeps the handler's answer
/// (one answer per invocation), the failure is logged.
#[tokio::test]
async fn a_layer_failing_after_the_answer_keeps_the_answer() {
    let env = layered(1);
    let record = env.invoke(r#"{"layer":"fail_after"}"#).await;
    let Outcome::Response(_) = &record.outcome else {
        panic!("expected the handler's response, got {:?}", record.outcome);
    };
    let body: Value = record.outcome.json().unwrap();
    assert_eq!(body["invocation"], 1);
    let logs = env.logs();
    // Logged after the answer: waited for, not counted at once.
    logs.wait_for("after the invocation was answered", Duration::from_secs(5))
        .await;
    assert_eq!(
        logs.matching("after the invocation was answered").len(),
        1,
        "{}",
        logs.text()
    );
    let next = env.invoke("{}").await;
    assert!(next.cold_start.is_none() && next.outcome.is_response());
    env.shutdown().await;
}
