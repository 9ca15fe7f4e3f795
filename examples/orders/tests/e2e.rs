//! `orders` end to end: the real binary, the real `lambda_runtime` client, the emulator
//! (freezing between invocations), and real databases. Connections are counted by the
//! database where it can (PostgreSQL's `pg_stat_database.sessions`, MariaDB's per-user
//! connection statistics) and by the function's sqlx connect hook for SQLite.
//!
//! PostgreSQL and MariaDB run when `LAMBDA_THAW_TEST_POSTGRES` / `LAMBDA_THAW_TEST_MYSQL`
//! hold admin URLs (`.ci/run` sets them); with `LAMBDA_THAW_REQUIRE_DATABASES` set (as
//! `.ci/run` does) a missing URL is a failure, not a skip.

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord};
use lambda_thaw_tests::db::{Scratch, unique};

fn orders(database_url: &str) -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_orders"))
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
}

fn event(n: usize) -> String {
    serde_json::json!({
        "customer": format!("customer-{n}"),
        "item": "espresso",
        "quantity": 1 + n % 3,
        "unit_price_cents": 320,
    })
    .to_string()
}

/// Runs `count` orders through one environment; returns the records.
async fn run_orders(env: &Environment, count: usize) -> Vec<InvocationRecord> {
    let mut records = Vec::new();
    for n in 0..count {
        let record = env.invoke(event(n)).await;
        assert!(
            record.outcome.is_response(),
            "order {n} failed: {:?}\n{}",
            record.outcome,
            env.logs().text()
        );
        records.push(record);
    }
    records
}

fn receipt(record: &InvocationRecord) -> serde_json::Value {
    record.outcome.json().expect("a JSON receipt")
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_orders_on_sqlite_open_one_connection() {
    let file = std::env::temp_dir().join(format!("{}.db", unique("lambda_thaw_orders")));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let env = Environment::new(orders(&url));
    let records = run_orders(&env, 50).await;
    let last = receipt(records.last().unwrap());
    assert_eq!(last["connections_opened"], 1);
    assert_eq!(last["orders_recorded"], 50);
    // Waited for: the emulator reads the process's output asynchronously.
    env.logs()
        .wait_for(
            "opened a database connection",
            std::time::Duration::from_secs(5),
        )
        .await;
    assert_eq!(env.logs().matching("opened a database connection").len(), 1);
    assert_eq!(records.iter().filter(|r| r.cold_start.is_some()).count(), 1);
    env.shutdown().await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_order_is_an_error_and_the_next_one_succeeds() {
    let file = std::env::temp_dir().join(format!("{}.db", unique("lambda_thaw_bad")));
    let env = Environment::new(orders(&format!("sqlite://{}?mode=rwc", file.display())));
    let bad = env
        .invoke(r#"{"customer":"x","item":"y","quantity":0,"unit_price_cents":1}"#)
        .await;
    let error = bad.outcome.error().unwrap();
    assert!(
        error.error_message.contains("quantity of at least 1"),
        "{error:?}"
    );
    let malformed = env.invoke(r#"{"customer":"x"}"#).await;
    assert!(
        malformed
            .outcome
            .error()
            .unwrap()
            .error_message
            .contains("missing field")
    );
    let good = env.invoke(event(1)).await;
    assert_eq!(receipt(&good)["orders_recorded"], 1);
    env.shutdown().await;
    let _ = std::fs::remove_file(&file);
}

/// 50 orders through one environment on `scratch`: the server counts one connection,
/// closed cleanly at shutdown.
async fn fifty_orders_open_one_connection(mut scratch: Scratch) {
    let env = Environment::new(orders(scratch.url()));
    let records = run_orders(&env, 50).await;
    assert_eq!(receipt(records.last().unwrap())["orders_recorded"], 50);
    env.shutdown().await;
    let server = scratch.server();
    assert_eq!(
        scratch.connections_opened().await,
        1,
        "{server}: 50 invocations should share one connection"
    );
    assert_eq!(
        scratch.connections_lost().await,
        0,
        "{server}: the pool was closed at shutdown"
    );
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_orders_on_postgres_open_one_session() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    fifty_orders_open_one_connection(scratch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_orders_on_mariadb_open_one_connection() {
    let Some(scratch) = Scratch::mariadb().await else {
        return;
    };
    fifty_orders_open_one_connection(scratch).await;
}

/// Twenty environments cold-starting together on an empty database: every first order
/// succeeds. Each init creates the table if it is missing, and on PostgreSQL concurrent
/// `CREATE TABLE IF NOT EXISTS` race in the catalog (the losers get a duplicate-key error
/// on `pg_type`), so the example must treat "someone else just created it" as done.
async fn twenty_cold_starts_at_once_on_an_empty_database(mut scratch: Scratch) {
    let environments: Vec<_> = (0..20)
        .map(|_| std::sync::Arc::new(Environment::new(orders(scratch.url()))))
        .collect();
    let mut invocations = tokio::task::JoinSet::new();
    for (n, env) in environments.iter().enumerate() {
        let env = env.clone();
        invocations.spawn(async move { env.invoke(event(n)).await });
    }
    let records = invocations.join_all().await;
    let failed: Vec<_> = records
        .iter()
        .filter(|r| !r.outcome.is_response())
        .map(|r| &r.outcome)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 20 failed: {failed:?}",
        failed.len()
    );
    for env in &environments {
        env.shutdown().await;
    }
    assert_eq!(scratch.connections_opened().await, 20);
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_cold_starts_at_once_on_an_empty_postgres_database() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    twenty_cold_starts_at_once_on_an_empty_database(scratch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_cold_starts_at_once_on_an_empty_mariadb_database() {
    let Some(scratch) = Scratch::mariadb().await else {
        return;
    };
    twenty_cold_starts_at_once_on_an_empty_database(scratch).await;
}
