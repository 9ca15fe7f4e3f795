//! The cache across a real freeze: a 2 s TTL, invocations within it (no refetch), then
//! a 5 s frozen gap (refetch), through the emulator.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord};

fn fetches(record: &InvocationRecord) -> u64 {
    let body = record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("{:?}", record.outcome));
    body["fetches"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_is_refetched_after_a_frozen_gap_longer_than_its_ttl() {
    let file = std::env::temp_dir().join(format!("lambda-thaw-config-{}.json", std::process::id()));
    tokio::fs::write(&file, r#"{"greeting":"hello"}"#)
        .await
        .unwrap();
    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_cached-config"))
            .env("CONFIG_FILE", file.display().to_string())
            .env("CONFIG_TTL_SECS", "2"),
    );
    for _ in 0..3 {
        assert_eq!(
            fetches(&env.invoke("{}").await),
            1,
            "within the TTL: one fetch"
        );
    }
    let hits = env
        .logs()
        .wait_for_count("config cache hit", 2, Duration::from_secs(5))
        .await;
    assert_eq!(hits.len(), 2);
    // The environment stays frozen for 5 s: longer than the TTL.
    tokio::fs::write(&file, r#"{"greeting":"hello again"}"#)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = env.invoke("{}").await;
    assert_eq!(fetches(&after), 2, "stale after the frozen gap: refetched");
    assert_eq!(after.outcome.json().unwrap()["greeting"], "hello again");
    assert_eq!(fetches(&env.invoke("{}").await), 2, "fresh again");
    let misses = env
        .logs()
        .wait_for_count("config cache miss", 2, Duration::from_secs(5))
        .await;
    assert_eq!(misses.len(), 2);
    env.shutdown().await;
    let _ = std::fs::remove_file(file);
}

/// A missing or malformed setting fails init with a message that names the variable.
#[tokio::test]
async fn a_missing_or_malformed_setting_is_named_in_the_init_error() {
    let missing = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_cached-config")));
    let error = missing.invoke("{}").await.outcome.error().unwrap();
    assert!(error.error_message.contains("CONFIG_FILE"), "{error:?}");
    let malformed = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_cached-config"))
            .env("CONFIG_FILE", "config.json")
            .env("CONFIG_TTL_SECS", "five"),
    );
    let error = malformed.invoke("{}").await.outcome.error().unwrap();
    assert!(
        error.error_message.contains("CONFIG_TTL_SECS") && error.error_message.contains("five"),
        "{error:?}"
    );
}
