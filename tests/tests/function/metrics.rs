//! CloudWatch metrics (EMF) end to end: `src/bin/thaw_metrics.rs` under the emulator, every
//! document it prints checked against the specification by the emulator's reader, and the
//! counts compared with what the emulator saw happen.

use std::time::Duration;

use lambda_thaw_emulator::emf::{Metrics, document};
use lambda_thaw_emulator::{Environment, Fleet, FunctionConfig, InvocationRecord};

fn thaw_metrics() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-metrics"))
}

fn events<T: From<String>>(event: &str, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from(event.to_owned())).collect()
}

/// The metrics the environments printed, once `ready` holds (at most 10 s). Fails on any
/// document the specification refuses.
async fn metrics_when(environments: &[&Environment], ready: impl Fn(&Metrics) -> bool) -> Metrics {
    let metrics = Metrics::when(environments, ready, Duration::from_secs(10)).await;
    assert!(
        metrics.invalid.is_empty(),
        "invalid EMF: {:#?}",
        metrics.invalid
    );
    metrics
}

fn error_types(records: &[InvocationRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r.outcome.error().map(|e| e.error_type))
        .collect()
}

/// Three environments, 30 invocations: one `ColdStart` per environment, one
/// `InvocationDuration` and one `DeferredDuration` per invocation, the handler's counter
/// equal to its increments, its deferred work's counter too.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_reports_one_cold_start_per_environment_and_every_increment() {
    let fleet = Fleet::new(thaw_metrics(), 3);
    let records = fleet
        .run(
            events(r#"{"count":2,"defer_ms":5}"#, 30),
            Duration::ZERO,
            |_, _| {},
        )
        .await;
    assert!(error_types(&records).is_empty(), "{records:?}");
    let cold_starts = records.iter().filter(|r| r.cold_start.is_some()).count();
    let environments: Vec<&Environment> = fleet.environments().iter().map(|e| &**e).collect();
    let metrics = metrics_when(&environments, |m| {
        m.count("InvocationDuration") == 30 && m.sum("deferred_done") == 30.0
    })
    .await;
    assert_eq!(
        metrics.sum("ColdStart"),
        cold_starts as f64,
        "{}",
        metrics.table()
    );
    assert_eq!(
        metrics.count("InitDuration"),
        cold_starts,
        "{}",
        metrics.table()
    );
    assert_eq!(metrics.count("InvocationDuration"), 30);
    assert_eq!(metrics.count("DeferredDuration"), 30);
    assert_eq!(metrics.sum("orders"), 60.0);
    assert_eq!(metrics.sum("deferred_done"), 30.0);
    assert_eq!(metrics.sum("Errors"), 0.0);
    fleet.shutdown().await;
}

/// Four invocations at once in one environment (Managed Instances): each invocation's
/// document holds its own increments, never another's.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invocations_each_flush_their_own_counts() {
    let fleet = Fleet::new(thaw_metrics().max_concurrency(4), 1);
    let records = fleet
        .run(
            events(r#"{"count":3,"defer_ms":20}"#, 40),
            Duration::ZERO,
            |_, _| {},
        )
        .await;
    assert!(error_types(&records).is_empty(), "{records:?}");
    let environment = &*fleet.environments()[0];
    let metrics = metrics_when(&[environment], |m| m.count("InvocationDuration") == 40).await;
    let per_invocation: Vec<f64> = metrics
        .values
        .iter()
        .filter(|(key, _)| key.name == "orders")
        .flat_map(|(_, values)| values.clone())
        .collect();
    assert_eq!(
        per_invocation,
        vec![3.0; 40],
        "one value of 3 per invocation"
    );
    assert_eq!(metrics.sum("deferred_done"), 40.0);
    assert_eq!(metrics.sum("ColdStart"), 1.0);
    fleet.shutdown().await;
}

/// `DeadlineCancelled` counts exactly the invocations the guard cut; `Errors` counts every
/// error answer under its `errorType`.
#[tokio::test(flavor = "multi_thread")]
async fn deadline_cancellations_and_errors_are_counted_by_error_type() {
    let env = Environment::new(thaw_metrics().timeout(Duration::from_millis(1000)));
    let mut records = Vec::new();
    for event in [
        r#"{"count":1}"#,
        r#"{"sleep_ms":5000}"#,
        r#"{"fail":"out of stock"}"#,
        r#"{"sleep_ms":5000}"#,
        r#"{"count":1}"#,
    ] {
        records.push(env.invoke(event).await);
    }
    let types = error_types(&records);
    let cut = types
        .iter()
        .filter(|t| *t == "lambda_thaw::DeadlineExceeded")
        .count();
    assert_eq!(cut, 2, "{types:?}");
    let metrics = metrics_when(&[&env], |m| m.count("InvocationDuration") == 5).await;
    assert_eq!(
        metrics.sum("DeadlineCancelled"),
        cut as f64,
        "{}",
        metrics.table()
    );
    assert_eq!(
        metrics.sum("Errors"),
        types.len() as f64,
        "{}",
        metrics.table()
    );
    for error_type in &types {
        let counted: f64 = metrics
            .values
            .iter()
            .filter(|(key, _)| {
                key.name == "Errors" && key.dimensions == [format!("ErrorType={error_type}")]
            })
            .flat_map(|(_, values)| values)
            .sum();
        let answered = types.iter().filter(|t| *t == error_type).count();
        assert_eq!(
            counted,
            answered as f64,
            "{error_type}: {}",
            metrics.table()
        );
    }
    env.shutdown().await;
}

/// 150 metrics in one invocation are two documents of at most 100, and 250 values of one
/// histogram are three: nothing dropped, every document valid.
#[tokio::test(flavor = "multi_thread")]
async fn more_than_a_document_holds_is_split_and_nothing_is_dropped() {
    let env = Environment::new(thaw_metrics());
    // Warm first, so that the measured invocation carries no init or cold-start metrics.
    env.invoke("{}").await;
    let before = metrics_when(&[&env], |m| m.count("InvocationDuration") == 1).await;
    let record = env.invoke(r#"{"distinct":150}"#).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    let metrics = metrics_when(&[&env], |m| m.count("InvocationDuration") == 2).await;
    assert_eq!(
        metrics.documents - before.documents,
        2,
        "150 + InvocationDuration: 2 documents"
    );
    for i in 0..150 {
        assert_eq!(metrics.sum(&format!("metric_{i:03}")), 1.0, "metric_{i:03}");
    }
    let record = env.invoke(r#"{"samples":250}"#).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    let after = metrics_when(&[&env], |m| m.count("InvocationDuration") == 3).await;
    assert_eq!(
        after.documents - metrics.documents,
        3,
        "250 values: 3 documents"
    );
    let basket: Vec<f64> = after
        .values
        .iter()
        .filter(|(key, _)| key.name == "basket_size")
        .flat_map(|(_, values)| values.clone())
        .collect();
    assert_eq!(basket, (0..250).map(f64::from).collect::<Vec<_>>());
    let largest = env
        .logs()
        .lines()
        .iter()
        .filter_map(|line| document(&line.text))
        .map(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len()
        })
        .max();
    assert_eq!(largest, Some(100));
    env.shutdown().await;
}

/// Metrics are written after the response: the invocation's documents come after the
/// moment the caller had its answer, never before.
#[tokio::test(flavor = "multi_thread")]
async fn documents_are_written_after_the_response() {
    let env = Environment::new(thaw_metrics());
    let record = env.invoke(r#"{"count":1,"defer_ms":200}"#).await;
    let answered = record.responded_at.expect("a response");
    metrics_when(&[&env], |m| m.sum("deferred_done") == 1.0).await;
    let written: Vec<_> = env
        .logs()
        .lines()
        .into_iter()
        .filter(|line| document(&line.text).is_some())
        .collect();
    assert!(!written.is_empty());
    for line in written {
        assert!(
            line.at >= answered,
            "a document was read before the response was posted"
        );
    }
    env.shutdown().await;
}

/// Metrics off (the default): not one EMF document.
#[tokio::test(flavor = "multi_thread")]
async fn a_function_without_the_option_writes_no_metrics() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager")));
    let record = env.invoke(r#"{"message":"hi"}"#).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    env.logs()
        .wait_for("init ran", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lines = env.logs().lines();
    assert!(lines.iter().all(|line| document(&line.text).is_none()));
    env.shutdown().await;
}

/// Through the builder: metrics on with `Builder::metrics`, and a namespace CloudWatch
/// refuses is an init error that names it, before init runs.
#[tokio::test(flavor = "multi_thread")]
async fn the_builder_turns_metrics_on_and_refuses_a_namespace_cloudwatch_would() {
    let builder = || FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-builder"));
    let env = Environment::new(builder().env("FIXTURE_METRICS", "Shop/Orders"));
    let record = env.invoke(r#"{"message":"hi"}"#).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    let metrics = metrics_when(&[&env], |m| m.count("InvocationDuration") == 1).await;
    assert_eq!(metrics.sum("ColdStart"), 1.0);
    assert!(
        metrics
            .values
            .keys()
            .all(|key| key.namespace == "Shop/Orders")
    );
    // The shutdown hook records after the last invocation: the flush at shutdown writes it.
    env.shutdown().await;
    assert!(env.logs().drained(Duration::from_secs(5)).await);
    let metrics = metrics_when(&[&env], |_| true).await;
    assert_eq!(
        metrics.sum("closed_at_shutdown"),
        1.0,
        "{}",
        metrics.table()
    );

    let env = Environment::new(builder().env("FIXTURE_METRICS", "Shop*Orders"));
    let record = env.invoke(r#"{"message":"hi"}"#).await;
    let error = record.outcome.error().expect("init failed");
    assert_eq!(error.error_type, "lambda_thaw::InvalidOption");
    assert!(
        error.error_message.contains("`*`"),
        "{}",
        error.error_message
    );
    assert!(
        env.logs().matching("init ran").is_empty(),
        "init ran: {}",
        env.logs().text()
    );
    env.shutdown().await;
}
