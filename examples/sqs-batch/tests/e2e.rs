//! A batch of three SQS messages, one bad: the response names exactly that one.

use lambda_thaw_emulator::{Environment, FunctionConfig};
use serde_json::json;

fn message(id: &str, body: &str) -> serde_json::Value {
    json!({
        "messageId": id,
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1520621625029", "SenderId": "s", "ApproximateFirstReceiveTimestamp": "1520621634884"},
        "messageAttributes": {},
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:payments",
        "awsRegion": "us-east-1"
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_message_is_reported_alone_as_a_batch_item_failure() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_sqs-batch")));
    let batch = json!({"Records": [
        message("m-1", r#"{"account":"a","amount_cents":500}"#),
        message("m-2", r#"{"account":"b","amount_cents":-1}"#),
        message("m-3", r#"{"account":"c","amount_cents":250}"#),
    ]});
    let record = env.invoke(batch.to_string()).await;
    let response = record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("{:?}", record.outcome));
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );
    let clean = json!({"Records": [message("m-4", r#"{"account":"d","amount_cents":1}"#)]});
    let record = env.invoke(clean.to_string()).await;
    assert_eq!(
        record.outcome.json().unwrap(),
        json!({"batchItemFailures": []})
    );
    assert!(
        env.logs()
            .wait_for("processed=3", std::time::Duration::from_secs(2))
            .await
            .is_some(),
        "{}",
        env.logs().text()
    );
    env.shutdown().await;
}
