//! The hygiene binaries are not only compiled under strict lints: they run, under the
//! emulator, through the real `lambda_runtime` client, with init, context, state and the
//! shutdown hook all reached through the re-exporting crate.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_strict_function_serves_with_its_state_context_and_shutdown_hook() {
    let env = Environment::new(FunctionConfig::new(env!(
        "CARGO_BIN_EXE_lambda-thaw-hygiene"
    )));
    for expected_served in 1..=3 {
        let record = env.invoke(json!({"name": "ada"}).to_string()).await;
        let response = record
            .outcome
            .json()
            .unwrap_or_else(|| panic!("{:?}\n{}", record.outcome, env.logs().text()));
        assert_eq!(response["greeting"], "hello, ada");
        assert_eq!(response["label"], "hygienic", "init = db::setup ran");
        assert_eq!(
            response["served"], expected_served,
            "one state per environment"
        );
        assert_eq!(response["request_id"], record.request_id.as_str());
        assert_eq!(
            response["handler"], "default",
            "the cfg-gated alternative is out"
        );
    }
    assert_eq!(env.starts(), 1);

    let record = env.invoke(r#"{"nom": "ada"}"#).await;
    let error = record
        .outcome
        .error()
        .expect("a malformed event is an error");
    assert!(error.error_message.contains("name"), "{error:?}");

    let report = env.shutdown().await.expect("it was running");
    assert!(
        report.sigterm_sent,
        "shutdown = db::close registers for SIGTERM"
    );
    assert!(
        env.logs()
            .wait_for(
                "hygiene: closing after 3 invocation(s)",
                Duration::from_secs(2)
            )
            .await
            .is_some(),
        "{}",
        env.logs().text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_defined_in_a_module_is_the_entry_point_after_use_module_main() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_nested")));
    let record = env.invoke(json!({"a": "1", "b": "2"}).to_string()).await;
    assert_eq!(
        record.outcome.json(),
        Some(json!("2 field(s)")),
        "{:?}",
        record.outcome
    );
    let _report = env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_in_a_module_file_is_the_entry_point_after_use_module_main() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_split")));
    let record = env.invoke(r#""hello""#).await;
    assert_eq!(
        record.outcome.json(),
        Some(json!("hello")),
        "{:?}",
        record.outcome
    );
    let _report = env.shutdown().await;
}
