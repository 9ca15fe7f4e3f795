//! `#[handler]` end to end: the fixtures in `src/bin/thaw_*.rs`, run by the real
//! `lambda_runtime` client against the emulator.

use std::time::{Duration, UNIX_EPOCH};

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord, Outcome};

fn eager() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager"))
}

fn lazy() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-lazy"))
}

fn body(record: &InvocationRecord) -> serde_json::Value {
    record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("expected a JSON response, got {:?}", record.outcome))
}

fn epoch_ms(t: std::time::SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// The epoch-ms timestamp a fixture printed after `needle`.
async fn logged_ms(env: &Environment, needle: &str) -> u128 {
    let line = env
        .logs()
        .wait_for(needle, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{}", env.logs().text()));
    line.text.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A marker file whose existence makes the fixture's init fail.
struct FailMarker(std::path::PathBuf);

impl FailMarker {
    fn new(name: &str) -> Self {
        // Unique per marker: tests run in parallel in this process, and one test's marker
        // removed on drop must not be another's.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lambda-thaw-{name}-{}-{n}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        Self(path)
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
    fn remove(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Drop for FailMarker {
    fn drop(&mut self) {
        self.remove();
    }
}

#[tokio::test]
async fn eager_init_runs_once_before_the_first_event() {
    let env = Environment::new(eager().env("FIXTURE_INIT_SLEEP_MS", "300"));
    let init = env.start().await.unwrap();
    assert!(
        init.duration >= Duration::from_millis(300),
        "init took {:?}",
        init.duration
    );
    let init_ms = logged_ms(&env, "init ran 1 at").await;
    let mut records = Vec::new();
    for _ in 0..5 {
        records.push(env.invoke(r#"{"message":"hi"}"#).await);
    }
    assert!(init_ms <= epoch_ms(records[0].handed_out_at.unwrap()));
    let first = records[0].response_latency().unwrap();
    assert!(
        first < Duration::from_millis(300),
        "the first invocation paid for init: {first:?}"
    );
    for (i, record) in records.iter().enumerate() {
        assert_eq!(body(record)["inits"], 1);
        assert_eq!(body(record)["invocation"], i as u64 + 1);
        assert!(record.cold_start.is_none());
    }
    init_ran_once(&env).await;
    env.shutdown().await;
}

#[tokio::test]
async fn lazy_init_runs_on_the_first_invocation() {
    let env = Environment::new(lazy().env("FIXTURE_INIT_SLEEP_MS", "300"));
    env.start().await.unwrap();
    assert!(
        env.logs().matching("init ran").is_empty(),
        "init ran before any event"
    );
    let first = env.invoke("{}").await;
    let second = env.invoke("{}").await;
    assert!(first.response_latency().unwrap() >= Duration::from_millis(300));
    assert!(second.response_latency().unwrap() < first.response_latency().unwrap());
    assert_eq!(body(&first)["inits"], 1);
    assert_eq!(body(&second)["inits"], 1);
    env.shutdown().await;
}

async fn assert_eager_init_error_is_reported(config: FunctionConfig) {
    let marker = FailMarker::new("eager");
    let env = Environment::new(config.env("FIXTURE_INIT_FAIL_FILE", marker.path()));
    let record = env.invoke("{}").await;
    match &record.outcome {
        Outcome::InitFailed(error) => {
            // Reported through init/error, not merely an exit (Runtime.ExitError).
            assert_ne!(error.error_type, "Runtime.ExitError", "{error:?}");
            assert!(
                error
                    .error_message
                    .contains("init `lambda_thaw_tests::setup` failed: database unreachable"),
                "{error:?}"
            );
        }
        other => panic!("expected an init failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failing_eager_init_reaches_init_error() {
    assert_eager_init_error_is_reported(eager()).await;
}

#[tokio::test]
async fn a_failing_eager_init_reaches_init_error_under_a_prefixed_api() {
    assert_eager_init_error_is_reported(eager().api_prefix(".rt/orders")).await;
}

#[tokio::test]
async fn a_panicking_eager_init_is_reported_as_an_init_error() {
    let env = Environment::new(eager().env("FIXTURE_INIT_PANIC", "1"));
    let error = env.start().await.unwrap_err();
    assert_eq!(error.error_type, "lambda_thaw::InitPanic");
    assert!(
        error.error_message.contains("init panicked on purpose"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failing_lazy_init_fails_one_invocation_and_is_retried() {
    let marker = FailMarker::new("lazy");
    let env = Environment::new(lazy().env("FIXTURE_INIT_FAIL_FILE", marker.path()));
    let failed = env.invoke("{}").await;
    match &failed.outcome {
        Outcome::Error(error) => assert!(
            error.error_message.contains("database unreachable"),
            "{error:?}"
        ),
        other => panic!("expected an invocation error, got {other:?}"),
    }
    marker.remove();
    let next = env.invoke("{}").await;
    assert_eq!(
        body(&next)["inits"],
        2,
        "the second invocation retried init"
    );
    assert!(next.cold_start.is_none(), "no restart was needed");
    env.shutdown().await;
}

#[tokio::test]
async fn eight_concurrent_first_invocations_share_one_init() {
    let env = Environment::new(
        lazy()
            .max_concurrency(8)
            .env("FIXTURE_INIT_SLEEP_MS", "300"),
    );
    env.start().await.unwrap();
    let records = futures_util::future::join_all((0..8).map(|_| env.invoke("{}"))).await;
    for record in &records {
        assert_eq!(body(record)["inits"], 1);
    }
    assert!(
        lambda_thaw_emulator::all_in_flight_together(&records),
        "the eight first invocations overlapped"
    );
    init_ran_once(&env).await;
    env.shutdown().await;
}

#[tokio::test]
async fn deferred_work_runs_after_the_response_and_before_completion() {
    let env = Environment::new(eager());
    let record = env.invoke(r#"{"defer_ms":300}"#).await;
    assert!(record.outcome.is_response());
    let done = logged_ms(&env, &format!("deferred done {}", record.request_id)).await;
    assert!(record.response_latency().unwrap() < Duration::from_millis(300));
    assert!(record.complete_latency().unwrap() >= Duration::from_millis(300));
    assert!(epoch_ms(record.responded_at.unwrap()) <= done);
    assert!(done <= epoch_ms(record.completed_at.unwrap()));
    env.shutdown().await;
}

#[tokio::test]
async fn without_early_return_the_response_waits_for_deferred_work() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-waiting")));
    let record = env.invoke(r#"{"defer_ms":300}"#).await;
    let done = logged_ms(&env, &format!("deferred done {}", record.request_id)).await;
    assert!(record.response_latency().unwrap() >= Duration::from_millis(300));
    assert!(done <= epoch_ms(record.responded_at.unwrap()));
    env.shutdown().await;
}

#[tokio::test]
async fn deferred_errors_and_panics_are_logged_and_the_runtime_survives() {
    let env = Environment::new(eager());
    let record = env.invoke(r#"{"defer_fail":"audit log full"}"#).await;
    assert!(record.outcome.is_response());
    let logs = env.logs();
    assert!(
        logs.wait_for("deferred work failed", Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(
        logs.matching("audit log full").len() == 1,
        "{}",
        logs.text()
    );
    assert!(
        logs.wait_for("deferred work panicked", Duration::from_secs(2))
            .await
            .is_some()
    );
    let next = env.invoke("{}").await;
    assert_eq!(body(&next)["invocation"], 2);
    assert!(next.cold_start.is_none());
    env.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_returns_an_error_and_keeps_its_state() {
    let env = Environment::new(eager());
    env.invoke("{}").await;
    let panicked = env.invoke(r#"{"panic":"boom"}"#).await;
    let error = panicked.outcome.error().unwrap();
    assert!(error.error_message.contains("boom"), "{error:?}");
    let next = env.invoke("{}").await;
    assert_eq!(body(&next)["invocation"], 3, "the state survived the panic");
    assert_eq!(body(&next)["inits"], 1);
    assert!(next.cold_start.is_none());
    env.shutdown().await;
}

#[tokio::test]
async fn a_malformed_event_is_a_clear_error_and_the_environment_keeps_serving() {
    let env = Environment::new(eager());
    let bad = env.invoke(r#"{"mesage":"typo"}"#).await;
    let error = bad.outcome.error().unwrap();
    assert!(
        error.error_message.contains("unknown field `mesage`"),
        "{error:?}"
    );
    let next = env.invoke(r#"{"message":"ok"}"#).await;
    assert_eq!(body(&next)["message"], "ok");
    assert!(next.cold_start.is_none());
    env.shutdown().await;
}

#[tokio::test]
async fn a_handler_without_init_echoes() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-plain")));
    let record = env.invoke(r#"{"any":["json",1]}"#).await;
    assert_eq!(body(&record), serde_json::json!({"any":["json",1]}));
    env.shutdown().await;
}

#[tokio::test]
async fn the_payload_and_context_shape_gets_both_in_its_own_order() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-context")));
    let record = env.invoke(r#"{"item":"espresso"}"#).await;
    let body = body(&record);
    assert_eq!(body["greeting"], "hello");
    assert_eq!(body["item"], "espresso");
    assert_eq!(body["request_id"], record.request_id.as_str());
    assert_eq!(
        body["deadline"].as_u64().unwrap() as u128,
        epoch_ms(record.deadline)
    );
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    for trace_id in [trace, "Root=1-00000000-000000000000000000000001;Sampled=0"] {
        let traced = env
            .invoke_with_headers(
                r#"{"item":"tea"}"#,
                &[("Lambda-Runtime-Trace-Id", Some(trace_id))],
            )
            .await;
        let traced = traced.outcome.json().unwrap();
        assert_eq!(traced["trace_id"], trace_id);
        assert_eq!(
            traced["trace_env"], trace_id,
            "_X_AMZN_TRACE_ID follows each invocation"
        );
    }
    let malformed = env.invoke(r#"{"items":"x"}"#).await;
    assert!(
        malformed
            .outcome
            .error()
            .unwrap()
            .error_message
            .contains("missing field `item`")
    );
    env.shutdown().await;
}

#[tokio::test]
async fn the_builder_without_the_macro_runs_the_same_lifecycle() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-builder")));
    let first = env.invoke(r#"{"message":"one","defer_ms":300}"#).await;
    let second = env.invoke(r#"{"message":"two"}"#).await;
    assert_eq!(
        (
            body(&first)["inits"].clone(),
            body(&second)["invocation"].clone()
        ),
        (1.into(), 2.into())
    );
    // Early return: the answer came before the deferred work finished (an order, not a
    // time limit, so a loaded machine cannot fail it).
    let done = logged_ms(&env, &format!("deferred done {}", first.request_id)).await;
    assert!(
        epoch_ms(first.responded_at.unwrap()) < done,
        "early return: answered at {:?}, deferred work done at {done}",
        first.responded_at
    );
    let report = env.shutdown().await.unwrap();
    assert!(
        report.sigterm_sent,
        "close_on_shutdown registered the extension"
    );
    // Waited for: the emulator's log reader may not have read the process's last lines.
    env.logs()
        .wait_for("state closed at shutdown", Duration::from_secs(5))
        .await;
    assert_eq!(
        env.logs().matching("state closed at shutdown").len(),
        1,
        "{}",
        env.logs().text()
    );
}

/// The builder's options before `init`, its hook after: the hook runs at shutdown (a hook
/// given before `init` was once silently dropped; now it does not compile).
#[tokio::test]
async fn options_before_init_and_the_hook_after_it_run_at_shutdown() {
    let env = Environment::new(FunctionConfig::new(env!(
        "CARGO_BIN_EXE_thaw-builder-order"
    )));
    assert_eq!(body(&env.invoke(r#"{"message":"one"}"#).await)["inits"], 1);
    let report = env.shutdown().await.unwrap();
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "the hook registered the extension: {report:?}"
    );
    assert!(
        env.logs()
            .wait_for(
                "shutdown hook after the options ran",
                Duration::from_secs(5)
            )
            .await
            .is_some(),
        "{}",
        env.logs().text()
    );
    let failed = env
        .logs()
        .wait_for("the shutdown hook failed", Duration::from_secs(5))
        .await;
    assert!(
        failed.is_some_and(|line| line.text.contains("the metrics flush was refused")),
        "{}",
        env.logs().text()
    );
}

/// `Builder::run` inside `#[tokio::main]`: a message that says what to do, exit code 2 —
/// not tokio's panic about starting a runtime from within a runtime.
#[test]
fn the_builder_run_inside_a_tokio_runtime_says_what_to_do() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_thaw-nested"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("inside a tokio runtime") && stderr.contains("plain `fn main`"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A response the Runtime API refuses (over Lambda's 6 MB, 413) is logged by the function
/// with the status and the API's words, and the environment serves on; a response the API
/// accepts logs no refusal.
#[tokio::test]
async fn a_refused_response_is_logged_with_its_status_and_an_accepted_one_is_not() {
    let env = Environment::new(eager());
    let fits = env.invoke(r#"{"message":"small"}"#).await;
    assert!(fits.outcome.is_response(), "{}", fits.outcome.summary());
    let too_large = env.invoke(r#"{"pad":7000000}"#).await;
    assert!(
        matches!(&too_large.outcome, Outcome::Error(e) if e.error_type == "Function.ResponseSizeTooLarge"),
        "{}",
        too_large.outcome.summary()
    );
    let refused = env
        .logs()
        .wait_for(
            "the Runtime API refused the response",
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|| panic!("the refusal was not logged:\n{}", env.logs().text()));
    assert!(refused.text.contains("413"), "{}", refused.text);
    let after = env.invoke(r#"{"message":"after"}"#).await;
    assert!(after.outcome.is_response(), "{}", after.outcome.summary());
    assert_eq!(
        env.logs().matching("refused").len(),
        1,
        "only the oversized response was refused:\n{}",
        env.logs().text()
    );
    env.shutdown().await;
}

/// The fixture's init ran exactly once — waited for, as the emulator reads the process's
/// output asynchronously.
async fn init_ran_once(env: &Environment) {
    env.logs()
        .wait_for("init ran", Duration::from_secs(5))
        .await;
    assert_eq!(env.logs().matching("init ran").len(), 1);
}

#[tokio::test]
async fn the_context_names_the_function_its_memory_and_version_as_lambda_set_them() {
    let mut config = eager();
    config.function_name = "orders-prod".into();
    config.memory_mb = 1769;
    let env = Environment::new(config);
    let record = env.invoke("{}").await;
    assert_eq!(
        body(&record)["function"],
        serde_json::json!({"name": "orders-prod", "memory": 1769, "version": "$LATEST"})
    );
    env.shutdown().await;
}

#[tokio::test]
async fn every_answer_of_a_managed_instance_carries_its_invocation_id_back() {
    let env = Environment::new(eager().max_concurrency(4));
    let records = futures_util::future::join_all([
        env.invoke(r#"{"message":"ok"}"#),
        env.invoke(r#"{"fail":"refused"}"#),
        env.invoke(r#"{"panic":"on purpose"}"#),
    ])
    .await;
    assert!(records[0].outcome.is_response(), "{:?}", records[0].outcome);
    for record in &records[1..] {
        assert!(
            matches!(record.outcome, Outcome::Error(_)),
            "{:?}",
            record.outcome
        );
    }
    for record in &records {
        assert!(record.invocation_id.is_some(), "the emulator sent one");
        assert_eq!(
            record.answered_with_invocation_id, record.invocation_id,
            "{:?}",
            record.outcome
        );
    }
    env.shutdown().await;
    // On-demand Lambda sends none, and none comes back.
    let env = Environment::new(eager());
    let record = env.invoke("{}").await;
    assert_eq!(
        (record.invocation_id, record.answered_with_invocation_id),
        (None, None)
    );
    env.shutdown().await;
}
