//! What lambda-thaw's own invocation loop survives, end to end through the emulator —
//! each beside a control arm where plain `lambda_runtime` 1.5 (the hand-written fixture)
//! shows that the test can fail.

use std::time::{Duration, Instant};

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord, Outcome};

fn eager() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager"))
}

fn lazy() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-lazy"))
}

fn handwritten() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_handwritten")).env("RUST_LOG", "warn")
}

fn body(record: &InvocationRecord) -> serde_json::Value {
    record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("expected a JSON response, got {:?}", record.outcome))
}

/// Headers the invoker (or a local tool) controls, sent as no Lambda runtime expects.
const MALFORMED: [(&str, &str, &str); 4] = [
    (
        "Lambda-Runtime-Client-Context",
        "{not json",
        "Lambda-Runtime-Client-Context",
    ),
    (
        "Lambda-Runtime-Client-Context",
        r#"{"client":5}"#,
        "Lambda-Runtime-Client-Context",
    ),
    (
        "Lambda-Runtime-Cognito-Identity",
        "{\"identityId\":",
        "Lambda-Runtime-Cognito-Identity",
    ),
    (
        "Lambda-Runtime-Deadline-Ms",
        "abc",
        "Lambda-Runtime-Deadline-Ms",
    ),
];

async fn malformed_headers_are_answered_and_the_environment_serves_on(config: FunctionConfig) {
    let env = Environment::new(config);
    let first = env.invoke("{}").await;
    let pid = body(&first)["pid"].clone();
    for (i, (header, value, named)) in MALFORMED.iter().enumerate() {
        let bad = env
            .invoke_with_headers("{}", &[(header, Some(value))])
            .await;
        let error = bad.outcome.error().unwrap_or_else(|| {
            panic!(
                "{header}: {value}: expected an error answer, got {:?}",
                bad.outcome
            )
        });
        assert_eq!(
            error.error_type, "lambda_thaw::MalformedHeader",
            "{error:?}"
        );
        assert!(
            error.error_message.contains(&format!("`{named}`")),
            "{error:?}"
        );
        let next = env.invoke("{}").await;
        assert!(
            next.cold_start.is_none(),
            "{header}: {value} cost the environment"
        );
        assert_eq!(body(&next)["pid"], pid);
        assert_eq!(
            body(&next)["invocation"],
            i as u64 + 2,
            "the handler was not called for the bad one"
        );
    }
    env.shutdown().await;
}

#[tokio::test]
async fn malformed_headers_are_answered_and_the_environment_serves_on_sequentially() {
    malformed_headers_are_answered_and_the_environment_serves_on(eager()).await;
}

#[tokio::test]
async fn malformed_headers_are_answered_and_the_environment_serves_on_concurrently() {
    malformed_headers_are_answered_and_the_environment_serves_on(eager().max_concurrency(2)).await;
}

#[tokio::test]
async fn control_plain_lambda_runtime_loses_the_environment_to_one_malformed_header() {
    let env = Environment::new(handwritten().timeout(Duration::from_secs(1)));
    env.invoke("{}").await;
    let bad = env
        .invoke_with_headers(
            "{}",
            &[("Lambda-Runtime-Client-Context", Some("{not json"))],
        )
        .await;
    // No answer from the function: the process ended (or the caller waited it out).
    assert!(
        matches!(bad.outcome, Outcome::Crashed(_) | Outcome::Timeout),
        "plain lambda_runtime answered it: {:?}",
        bad.outcome
    );
    let next = env.invoke("{}").await;
    assert!(
        next.cold_start.is_some(),
        "the environment survived under plain lambda_runtime"
    );
}

#[tokio::test]
async fn a_relative_deadline_is_no_deadline_with_one_warning() {
    // cargo-lambda 1.9 sends `Lambda-Runtime-Deadline-Ms: 600000`: ten minutes, relative.
    let env = Environment::new(eager().env("RUST_LOG", "warn"));
    for _ in 0..3 {
        let record = env
            .invoke_with_headers(
                r#"{"sleep_ms":50,"defer_ms":20}"#,
                &[("Lambda-Runtime-Deadline-Ms", Some("600000"))],
            )
            .await;
        assert!(record.outcome.is_response(), "{:?}", record.outcome);
    }
    // Waited for: the emulator reads the process's output asynchronously.
    env.logs()
        .wait_for("not epoch milliseconds", Duration::from_secs(5))
        .await;
    let warnings = env.logs().matching("not epoch milliseconds");
    assert_eq!(warnings.len(), 1, "{}", env.logs().text());
    env.shutdown().await;
}

#[tokio::test]
async fn a_missing_request_id_does_not_panic_the_process() {
    let env = Environment::new(eager().timeout(Duration::from_millis(800)));
    env.invoke("{}").await;
    let lost = env
        .invoke_with_headers("{}", &[("Lambda-Runtime-Aws-Request-Id", None)])
        .await;
    // Nothing can answer an invocation without an id: Lambda times it out.
    assert!(
        matches!(lost.outcome, Outcome::Timeout),
        "{:?}",
        lost.outcome
    );
    assert!(
        env.logs()
            .wait_for("cannot be answered", Duration::from_secs(1))
            .await
            .is_some()
    );
    assert!(
        env.logs().matching("panicked").is_empty(),
        "{}",
        env.logs().text()
    );
}

#[tokio::test]
async fn control_plain_lambda_runtime_panics_on_a_missing_request_id() {
    let env = Environment::new(handwritten().timeout(Duration::from_millis(800)));
    env.invoke("{}").await;
    let lost = env
        .invoke_with_headers("{}", &[("Lambda-Runtime-Aws-Request-Id", None)])
        .await;
    assert!(
        matches!(lost.outcome, Outcome::Crashed(_)),
        "{:?}",
        lost.outcome
    );
}

#[tokio::test]
async fn deferred_work_past_the_deadline_is_cancelled_not_the_environment() {
    let env = Environment::new(eager().timeout(Duration::from_secs(1)));
    let record = env.invoke(r#"{"defer_ms":5000}"#).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    assert!(
        !record.killed_after_response,
        "the environment was killed for deferred work"
    );
    assert!(
        env.logs()
            .wait_for("was cancelled", Duration::from_secs(1))
            .await
            .is_some(),
        "{}",
        env.logs().text()
    );
    let next = env.invoke("{}").await;
    assert!(next.cold_start.is_none());
    assert_eq!(body(&next)["invocation"], 2);
    env.shutdown().await;
}

#[tokio::test]
async fn a_lazy_init_longer_than_the_timeout_fails_the_invocation_not_the_environment() {
    let env = Environment::new(
        lazy()
            .timeout(Duration::from_secs(2))
            .env("FIXTURE_INIT_SLEEP_MS", "5000"),
    );
    let slow = env.invoke("{}").await;
    let error = slow
        .outcome
        .error()
        .unwrap_or_else(|| panic!("expected an error, got {:?}", slow.outcome));
    assert_eq!(
        error.error_type, "lambda_thaw::DeadlineExceeded",
        "{error:?}"
    );
    assert!(!slow.killed_after_response);
    let again = env.invoke("{}").await;
    assert!(
        again.cold_start.is_none(),
        "the environment was lost to a slow lazy init"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn waiters_for_a_failing_lazy_init_share_one_attempt() {
    let marker = std::env::temp_dir().join(format!("lambda-thaw-shared-{}", std::process::id()));
    std::fs::write(&marker, "").unwrap();
    let env = Environment::new(
        lazy()
            .max_concurrency(8)
            .env("FIXTURE_INIT_SLEEP_MS", "300")
            .env("FIXTURE_INIT_FAIL_FILE", marker.display().to_string()),
    );
    env.start().await.unwrap();
    let started = Instant::now();
    let records = futures_util::future::join_all((0..8).map(|_| env.invoke("{}"))).await;
    let elapsed = started.elapsed();
    std::fs::remove_file(&marker).unwrap();
    for record in &records {
        let error = record
            .outcome
            .error()
            .unwrap_or_else(|| panic!("{:?}", record.outcome));
        assert!(
            error.error_message.contains("database unreachable"),
            "{error:?}"
        );
    }
    // Waited for: the emulator reads the process's output asynchronously.
    env.logs()
        .wait_for("init ran", Duration::from_secs(5))
        .await;
    assert_eq!(
        env.logs().matching("init ran").len(),
        1,
        "one attempt for eight waiters"
    );
    println!(
        "eight waiters for a failing 300 ms init answered in {} ms",
        elapsed.as_millis()
    );
    env.shutdown().await;
}

/// SIGTERM while an invocation is writing (250 ms inside its transaction), with a shutdown
/// hook that closes the pool: 50 times over, the write commits once, its caller gets the
/// answer, then the hook runs and the process exits before Lambda's SIGKILL.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_invocation_in_flight_answer_before_the_hook_runs() {
    const RUNS: usize = 50;
    // In memory: the 250 ms write and its commit must fit Lambda's 500 ms shutdown budget,
    // and a commit's fsync to a loaded machine's disk alone has taken more than 180 ms.
    let (url, file) = lambda_thaw_tests::scratch_sqlite_in_memory("drain");
    let _ = std::fs::remove_file(&file);
    let mut answered = 0;
    for run in 0..RUNS {
        let env = Environment::new(
            FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-db")).env("DATABASE_URL", &url),
        );
        env.start().await.unwrap();
        let key = format!("drained-{run}");
        let invocation = env.invoke(format!(r#"{{"insert":"{key}","sleep_ms":250}}"#));
        let shutdown = async {
            env.logs()
                .wait_for(&format!("inserting {key}"), Duration::from_secs(5))
                .await
                .unwrap();
            env.shutdown().await.unwrap()
        };
        let (record, report) = tokio::join!(invocation, shutdown);
        if record
            .outcome
            .json()
            .is_some_and(|body| body["inserted"] == key.as_str())
        {
            answered += 1;
        } else {
            eprintln!("run {run}: {:?}\n{}", record.outcome, env.logs().text());
        }
        assert!(
            report.sigterm_sent && !report.killed_after_grace,
            "run {run}: {report:?}\n{}",
            env.logs().text()
        );
        // Waited for, not counted at once: the log reader may not have read the last line.
        assert!(
            env.logs()
                .wait_for("shutdown hook ran", Duration::from_secs(5))
                .await
                .is_some(),
            "run {run}: {}",
            env.logs().text()
        );
    }
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (rows,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM lt_items WHERE item_key LIKE 'drained-%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    let _ = std::fs::remove_file(&file);
    println!("SIGTERM during a 250 ms write: answered {answered} of {RUNS}, {rows} rows");
    assert_eq!(answered, RUNS, "answered {answered} of {RUNS}");
    assert_eq!(rows, RUNS as i64, "each write applied exactly once");
}

#[tokio::test]
async fn control_plain_lambda_runtime_exits_under_the_invocation_in_flight() {
    let env = Environment::new(handwritten().env("FIXTURE_GRACEFUL", "1"));
    env.start().await.unwrap();
    let invocation = env.invoke(r#"{"sleep_ms":300}"#);
    let shutdown = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        env.shutdown().await
    };
    let (record, _) = tokio::join!(invocation, shutdown);
    assert!(
        !record.outcome.is_response(),
        "plain lambda_runtime answered: {:?}",
        record.outcome
    );
}

#[tokio::test]
async fn errors_are_reported_with_names_people_can_match_on() {
    let env = Environment::new(eager());
    let failed = env.invoke(r#"{"fail":"out of stock"}"#).await;
    let error = failed.outcome.error().unwrap();
    assert_eq!(
        (error.error_type.as_str(), error.error_message.as_str()),
        ("Error", "out of stock")
    );
    let panicked = env.invoke(r#"{"panic":"boom"}"#).await;
    assert_eq!(
        panicked.outcome.error().unwrap().error_type,
        "lambda_thaw::HandlerPanic"
    );
    let malformed = env.invoke(r#"{"mesage":"typo"}"#).await;
    assert_eq!(
        malformed.outcome.error().unwrap().error_type,
        "lambda_thaw::InvalidEvent"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn a_streamed_response_reaches_the_caller_through_the_loop() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-stream")));
    let record = env.invoke(r#"{"chunks":["one ","two ","three"]}"#).await;
    let Outcome::Response(body) = &record.outcome else {
        panic!("expected a response, got {:?}", record.outcome);
    };
    // The metadata prelude, eight NUL bytes, then the chunks in order.
    let text = String::from_utf8_lossy(body);
    let (prelude, rest) = text
        .split_once("\0\0\0\0\0\0\0\0")
        .expect("a prelude delimiter");
    assert!(prelude.contains("\"statusCode\":200"), "{prelude}");
    assert_eq!(rest, "one two three");
    env.shutdown().await;
}
