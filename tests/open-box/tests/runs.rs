//! The library's handler, run from the thin binary under the emulator: its JSON logs, its
//! layers (its own count, `lambda_runtime`'s OpenTelemetry), its current-thread runtime,
//! its deferred work and its cached config.

use lambda_thaw_emulator::{Environment, FunctionConfig};

#[tokio::test]
async fn the_thin_binary_runs_the_librarys_handler_with_the_users_choices() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_open-box-orders")));
    let mut receipts = Vec::new();
    for item in ["tea", "cake", "scone"] {
        let record = env.invoke(format!(r#"{{"item":"{item}"}}"#)).await;
        receipts.push(
            record
                .outcome
                .json()
                .unwrap_or_else(|| panic!("{:?}\n{}", record.outcome, env.logs().text())),
        );
    }
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(receipt["number"], i as u64 + 1);
        assert_eq!(receipt["greeting"], "thanks");
        // A current-thread runtime runs the handler on the process's main thread.
        assert_eq!(receipt["thread"], "main");
        // The deferred work of each earlier invocation ran after its response.
        assert_eq!(receipt["notified"], i as u64);
    }
    env.shutdown().await;

    // Every log line is the user's JSON, not lambda_runtime's default format.
    let lines: Vec<serde_json::Value> = env
        .logs()
        .lines()
        .iter()
        .filter(|line| !line.text.trim().is_empty())
        .map(|line| {
            serde_json::from_str(&line.text)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", line.text))
        })
        .collect();
    let messages = |text: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == text)
            .collect()
    };
    let counted = messages("invocation counted");
    let seen: Vec<u64> = counted
        .iter()
        .map(|l| l["fields"]["seen"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, [1, 2, 3], "the layer saw each invocation once");
    assert_eq!(messages("order notified").len(), 3);
    // lambda_runtime's OpenTelemetryLayer ran around each invocation (its flush is ours).
    assert_eq!(messages("telemetry flushed").len(), 3);
    assert_eq!(
        messages("config fetched").len(),
        1,
        "the TtlCache in the state served the rest"
    );
}

#[tokio::test]
async fn concurrent_invocations_go_through_the_one_shared_layered_service() {
    // Four workers on the current-thread runtime, one (non-`Clone`) layered service.
    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_open-box-orders")).max_concurrency(4),
    );
    env.start().await.unwrap();
    let records = futures_util::future::join_all(
        (0..4).map(|i| env.invoke(format!(r#"{{"item":"tea {i}"}}"#))),
    )
    .await;
    for record in &records {
        assert!(record.outcome.is_response(), "{:?}", record.outcome);
    }
    env.shutdown().await;
    let counted = env
        .logs()
        .lines()
        .iter()
        .filter(|line| line.text.contains("invocation counted"))
        .count();
    assert_eq!(counted, 4);
}
