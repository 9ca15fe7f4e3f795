//! The connection metrics against the real servers: what the function reports as
//! `ConnectionsOpened` is what the server counted, and every connection the server killed
//! while the environments were frozen is one `ConnectionsReplaced`. The fixture is
//! `src/bin/thaw_metrics.rs`.

use std::time::Duration;

use lambda_thaw_emulator::emf::Metrics;
use lambda_thaw_emulator::{Environment, Fleet, FunctionConfig};
use lambda_thaw_tests::db::Scratch;

async fn connections_counted_as_the_server_counts_them(mut scratch: Scratch) {
    let config = FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-metrics"))
        .env("DATABASE_URL", scratch.url())
        .env("RUST_LOG", "info");
    let fleet = Fleet::new(config, 3);
    let events = || {
        (0..12)
            .map(|_| r#"{"query":true}"#.to_owned().into())
            .collect()
    };
    let first = fleet.run(events(), Duration::ZERO, |_, _| {}).await;
    // While the environments sit frozen, the server ends every one of their sessions.
    let sessions = scratch.sessions().await;
    assert_eq!(sessions.len(), 3, "one connection per environment");
    for session in &sessions {
        scratch.kill(*session).await;
    }
    tokio::time::sleep(lambda_thaw::sqlx::FREEZE_CHECK_AFTER + Duration::from_millis(100)).await;
    let second = fleet.run(events(), Duration::ZERO, |_, _| {}).await;
    for record in first.iter().chain(&second) {
        assert!(record.outcome.is_response(), "{:?}", record.outcome);
    }
    let environments: Vec<&Environment> = fleet.environments().iter().map(|e| &**e).collect();
    let metrics = Metrics::when(
        &environments,
        |m| m.count("InvocationDuration") == 24,
        Duration::from_secs(10),
    )
    .await;
    assert!(metrics.invalid.is_empty(), "{:#?}", metrics.invalid);
    fleet.shutdown().await;
    let server = scratch.connections_opened().await;
    assert_eq!(
        metrics.sum("ConnectionsOpened"),
        server as f64,
        "{}: the server counted {server}\n{}",
        scratch.server(),
        metrics.table()
    );
    assert_eq!(
        metrics.sum("ConnectionsReplaced"),
        sessions.len() as f64,
        "{}",
        metrics.table()
    );
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_connections_counted_as_the_server_counts_them() {
    if let Some(scratch) = Scratch::postgres().await {
        connections_counted_as_the_server_counts_them(scratch).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_connections_counted_as_the_server_counts_them() {
    if let Some(scratch) = Scratch::mariadb().await {
        connections_counted_as_the_server_counts_them(scratch).await;
    }
}
