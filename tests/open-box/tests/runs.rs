//! The library's handler, run from the thin binary under the emulator: its JSON logs, its
//! layer's count, its current-thread runtime, its deferred work and its cached config.

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
    assert_eq!(
        messages("config fetched").len(),
        1,
        "the TtlCache in the state served the rest"
    );
}
