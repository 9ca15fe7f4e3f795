//! The emulator, judged by driving a hand-written `lambda_runtime` function through it.
//! No fixed sleeps synchronise anything here: every wait is on an emulator event with a
//! bound. The only sleeps are the frozen gaps under test.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig, Outcome, ProcessEnd};

fn handwritten() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_handwritten")).env("RUST_LOG", "warn")
}

fn response(outcome: &Outcome) -> serde_json::Value {
    outcome
        .json()
        .unwrap_or_else(|| panic!("expected a JSON response, got {outcome:?}"))
}

#[tokio::test]
async fn echoes_and_reuses_one_process() {
    let env = Environment::new(handwritten());
    let first = env.invoke(r#"{"message":"one"}"#).await;
    let second = env.invoke(r#"{"message":"two"}"#).await;
    assert_eq!(response(&first.outcome)["message"], "one");
    assert_eq!(response(&second.outcome)["message"], "two");
    assert_eq!(
        response(&first.outcome)["pid"],
        response(&second.outcome)["pid"]
    );
    let init = first
        .cold_start
        .as_ref()
        .expect("the first invocation is a cold start");
    assert!(init.duration > Duration::ZERO);
    assert!(second.cold_start.is_none(), "the second invocation is warm");
    for record in [&first, &second] {
        let (handed, responded, completed) = (
            record.handed_out_at.unwrap(),
            record.responded_at.unwrap(),
            record.completed_at.unwrap(),
        );
        assert!(handed <= responded && responded <= completed, "{record:?}");
    }
    assert_eq!(env.starts(), 1);
    env.shutdown().await;
}

#[tokio::test]
async fn a_spawned_task_outlives_the_response_and_stops_while_frozen() {
    let env = Environment::new(handwritten());
    // 50 ticks of 20 ms: a second of work left running after the response.
    let record = env.invoke(r#"{"ticks":50}"#).await;
    assert!(record.outcome.is_response());
    let ticks = || env.logs().matching("tick ").len();
    assert!(
        ticks() < 50,
        "the response did not wait for the spawned task"
    );
    // Let output already written reach us, then watch a frozen gap three times longer
    // than the task's whole remaining run.
    env.logs()
        .wait_for("tick 1", Duration::from_millis(200))
        .await;
    let before = ticks();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        ticks(),
        before,
        "the task made progress while the process was frozen"
    );
    // Thawed for a 200 ms invocation, the task resumes where it stopped.
    env.invoke(r#"{"sleep_ms":200}"#).await;
    let next = format!("tick {}", before + 1);
    assert!(
        env.logs()
            .wait_for(&next, Duration::from_secs(2))
            .await
            .is_some()
    );
    env.shutdown().await;
}

#[tokio::test]
async fn without_freeze_the_same_task_runs_through_the_gap() {
    // The control for the test above: the gap alone does not stop the ticks.
    let env = Environment::new(handwritten().freeze(false));
    env.invoke(r#"{"ticks":50}"#).await;
    assert!(
        env.logs()
            .wait_for("tick 50", Duration::from_secs(5))
            .await
            .is_some()
    );
    env.shutdown().await;
}

#[tokio::test]
async fn an_extension_holds_completion_but_not_the_response() {
    let env = Environment::new(handwritten().env("FIXTURE_EXTENSION_MS", "300"));
    let record = env.invoke(r#"{"message":"x"}"#).await;
    assert!(record.outcome.is_response());
    assert_eq!(
        env.extensions().await,
        vec!["fixture-extension".to_string()]
    );
    let responded = record.response_latency().unwrap();
    let complete = record.complete_latency().unwrap();
    assert!(
        complete >= Duration::from_millis(300),
        "complete after {complete:?}"
    );
    assert!(
        responded < Duration::from_millis(300),
        "responded after {responded:?}"
    );
    assert!(
        env.logs()
            .matching(&format!("extension finished {}", record.request_id))
            .len()
            == 1
    );
    env.shutdown().await;
}

#[tokio::test]
async fn a_panic_is_an_error_and_the_environment_keeps_serving() {
    let env = Environment::new(handwritten());
    let panicked = env.invoke(r#"{"panic":"boom"}"#).await;
    let error = panicked
        .outcome
        .error()
        .expect("a panic is reported as an error");
    assert!(error.error_message.contains("boom"), "{error:?}");
    let next = env.invoke(r#"{"message":"after"}"#).await;
    assert_eq!(response(&next.outcome)["message"], "after");
    assert!(next.cold_start.is_none());
    env.shutdown().await;
}

#[tokio::test]
async fn a_returned_error_is_reported_with_its_message() {
    let env = Environment::new(handwritten());
    let record = env.invoke(r#"{"fail":"card declined"}"#).await;
    match &record.outcome {
        Outcome::Error(error) => assert_eq!(error.error_message, "card declined"),
        other => panic!("expected an error, got {other:?}"),
    }
    env.shutdown().await;
}

#[tokio::test]
async fn a_malformed_event_is_a_clear_error_and_the_environment_keeps_serving() {
    let env = Environment::new(handwritten());
    let record = env.invoke(r#"{"mesage":"typo"}"#).await;
    let error = record
        .outcome
        .error()
        .expect("a malformed event is an error");
    assert!(
        error.error_message.contains("unknown field `mesage`"),
        "{error:?}"
    );
    let next = env.invoke(r#"{"message":"fine"}"#).await;
    assert_eq!(response(&next.outcome)["message"], "fine");
    assert!(
        next.cold_start.is_none(),
        "the environment was not restarted"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn an_init_exit_is_an_init_failure_and_the_next_invocation_cold_starts_again() {
    let env = Environment::new(handwritten().env("FIXTURE_INIT_EXIT", "3"));
    for attempt in 1..=2 {
        let record = env.invoke("{}").await;
        match &record.outcome {
            Outcome::InitFailed(error) => {
                assert_eq!(error.error_type, "Runtime.ExitError");
                assert!(error.error_message.contains("exit status 3"), "{error:?}");
                assert!(
                    error.error_message.contains("FIXTURE_INIT_EXIT is set"),
                    "{error:?}"
                );
            }
            other => panic!("expected an init failure, got {other:?}"),
        }
        assert_eq!(env.starts(), attempt);
    }
}

#[tokio::test]
async fn past_the_deadline_the_environment_is_killed_and_restarted() {
    let env = Environment::new(handwritten().timeout(Duration::from_millis(500)));
    let first = env.invoke(r#"{"message":"warm up"}"#).await;
    let slow = env.invoke(r#"{"sleep_ms":5000}"#).await;
    assert_eq!(slow.outcome, Outcome::Timeout);
    let waited = slow.invoked_at.elapsed().unwrap();
    assert!(
        waited < Duration::from_secs(3),
        "the timeout took {waited:?}"
    );
    let next = env.invoke(r#"{"message":"again"}"#).await;
    assert!(
        next.cold_start.is_some(),
        "a timed-out environment starts again"
    );
    assert_ne!(
        response(&first.outcome)["pid"],
        response(&next.outcome)["pid"]
    );
    assert_eq!(env.starts(), 2);
    env.shutdown().await;
}

#[tokio::test]
async fn eight_concurrent_invocations_overlap_in_one_process() {
    let env = Environment::new(handwritten().max_concurrency(8));
    env.start().await.unwrap();
    let invocations = (0..8).map(|_| env.invoke(r#"{"sleep_ms":300}"#));
    let records = futures_util::future::join_all(invocations).await;
    let pids: std::collections::HashSet<_> = records
        .iter()
        .map(|r| response(&r.outcome)["pid"].clone())
        .collect();
    assert_eq!(pids.len(), 1, "one process served all eight");
    assert!(
        lambda_thaw_emulator::all_in_flight_together(&records),
        "all eight were in flight before the first answered"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_sigterm_to_a_graceful_shutdown_hook() {
    let env = Environment::new(handwritten().env("FIXTURE_GRACEFUL", "1"));
    env.invoke(r#"{"message":"x"}"#).await;
    let report = env.shutdown().await.expect("it was running");
    assert!(report.sigterm_sent);
    assert!(!report.killed_after_grace, "{report:?}");
    assert_eq!(report.ended, ProcessEnd::Exited(0));
    assert!(
        env.logs()
            .wait_for("graceful shutdown hook ran", Duration::from_secs(2))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn without_extensions_shutdown_is_a_kill() {
    let env = Environment::new(handwritten());
    env.invoke(r#"{"message":"x"}"#).await;
    let report = env.shutdown().await.unwrap();
    assert!(!report.sigterm_sent);
    assert_eq!(report.ended, ProcessEnd::Signaled(9));
}

#[tokio::test]
async fn a_function_that_never_asks_for_work_fails_init_with_a_clear_error() {
    let mut config = FunctionConfig::new("/bin/sleep").init_timeout(Duration::from_millis(300));
    config.args = vec!["30".into()];
    let record = Environment::new(config).invoke("{}").await;
    let error = record.outcome.error().unwrap();
    assert_eq!(error.error_type, "Runtime.InitTimeout");
    assert!(
        error
            .error_message
            .contains("did not ask for its first event"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_missing_binary_is_named() {
    let record = Environment::new(FunctionConfig::new("/no/such/function"))
        .invoke("{}")
        .await;
    let error = record.outcome.error().unwrap();
    assert!(
        error.error_message.contains("/no/such/function"),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_runtime_api_can_live_under_a_path_prefix() {
    // cargo-lambda's form: AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/prefix
    let env = Environment::new(handwritten().api_prefix(".rt/fn"));
    let record = env.invoke(r#"{"message":"prefixed"}"#).await;
    assert_eq!(response(&record.outcome)["message"], "prefixed");
    env.shutdown().await;
}
