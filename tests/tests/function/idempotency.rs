//! Exactly one effect per event, on SQLite (one file shared by the environments'
//! processes): the scenarios of `lambda_thaw_tests::idempotency`, which the database tests
//! run on PostgreSQL, MariaDB and PgBouncer too.

use lambda_thaw_emulator::FunctionConfig;
use lambda_thaw_tests::idempotency::{
    a_duplicate_waits_no_longer_than_its_deadline, around_mode_claim_ends_at_the_deadline,
    one_order_delivered_twenty_times_at_once,
    orders_delivered_at_least_once_are_written_exactly_once,
    orders_through_sqs_are_written_exactly_once,
};

/// A fresh SQLite file, its URL for the function and a pool on it for counting.
async fn database(name: &str) -> (String, sqlx::AnyPool, std::path::PathBuf) {
    sqlx::any::install_default_drivers();
    let path = std::env::temp_dir().join(format!(
        "lambda-thaw-{name}-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let counter = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    (url, counter, path)
}

fn function(url: &str, mode: &str) -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-idempotent"))
        .env("DATABASE_URL", url)
        .env("FIXTURE_MODE", mode)
        .env("RUST_LOG", "warn")
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_one_order_delivered_twenty_times_at_once_is_written_once() {
    let (url, counter, path) = database("idempotent").await;
    one_order_delivered_twenty_times_at_once(function(&url, "transactional"), &counter).await;
    counter.close().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_around_mode_claim_ends_at_the_deadline_and_the_retry_completes() {
    let (url, counter, path) = database("around").await;
    around_mode_claim_ends_at_the_deadline(function(&url, "around"), &counter).await;
    counter.close().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_thousand_orders_delivered_at_least_once_are_written_exactly_once() {
    let (url, counter, path) = database("exactly-once").await;
    orders_delivered_at_least_once_are_written_exactly_once(
        function(&url, "transactional"),
        &counter,
        1000,
    )
    .await;
    counter.close().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_thousand_orders_through_sqs_are_written_exactly_once() {
    let (url, counter, path) = database("sqs").await;
    orders_through_sqs_are_written_exactly_once(function(&url, "transactional"), &counter, 1000)
        .await;
    counter.close().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_macro_s_idempotent_option_writes_each_order_once_and_answers_duplicates_alike() {
    each_order_once(env!("CARGO_BIN_EXE_thaw-idempotent-macro")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builder_s_idempotent_handler_writes_each_order_once_and_answers_duplicates_alike() {
    each_order_once(env!("CARGO_BIN_EXE_thaw-idempotent-builder")).await;
}

/// Two environments of `binary`: one order delivered to each, then its key with another
/// payload, then an event without its key.
async fn each_order_once(binary: &str) {
    let (url, counter, path) = database("macro").await;
    let config = FunctionConfig::new(binary)
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn");
    let first = lambda_thaw_emulator::Environment::new(config.clone());
    let second = lambda_thaw_emulator::Environment::new(config);
    let order = r#"{"order_id": "m-1", "total": 3}"#;
    let a = first.invoke(order).await.outcome.json().expect("answered");
    let b = second.invoke(order).await.outcome.json().expect("answered");
    assert_eq!(a, b, "the duplicate got the first response");
    assert_eq!(
        lambda_thaw_tests::idempotency::count(&counter, "SELECT count(*) FROM lt_orders").await,
        1
    );
    // The same key with another payload, and an event without the key.
    let reused = second.invoke(r#"{"order_id": "m-1", "total": 4}"#).await;
    assert_eq!(
        reused.outcome.error().map(|e| e.error_type),
        Some("lambda_thaw::IdempotencyPayloadMismatch".to_owned())
    );
    let missing = second.invoke(r#"{"total": 4}"#).await;
    let error = missing.outcome.error().expect("refused");
    assert_eq!(error.error_type, "lambda_thaw::IdempotencyKeyMissing");
    assert!(error.error_message.contains("/order_id"), "{error:?}");
    first.shutdown().await;
    second.shutdown().await;
    counter.close().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_duplicate_waits_no_longer_than_its_deadline() {
    let (url, counter, path) = database("lock-wait").await;
    a_duplicate_waits_no_longer_than_its_deadline(function(&url, "transactional"), &counter).await;
    counter.close().await;
    let _ = std::fs::remove_file(path);
}
