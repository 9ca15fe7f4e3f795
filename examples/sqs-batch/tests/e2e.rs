//! A batch of three SQS messages, one bad: the response names exactly that one, and the
//! good ones are written; the same batch delivered again writes nothing twice.

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

async fn payments(url: &str) -> Vec<(String, i64)> {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows = sqlx::query_as("SELECT message_id, amount_cents FROM payments ORDER BY message_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_message_is_reported_alone_and_a_redelivered_batch_writes_nothing_twice() {
    let path = std::env::temp_dir().join(format!("sqs-batch-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_sqs-batch")).env("DATABASE_URL", &url),
    );
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
    assert_eq!(
        payments(&url).await,
        vec![("m-1".to_owned(), 500), ("m-3".to_owned(), 250)]
    );
    // SQS delivers the whole batch again (its visibility timeout passed): the bad message
    // fails again, the good ones are not written twice.
    let again = env.invoke(batch.to_string()).await;
    assert_eq!(
        again.outcome.json().unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );
    let clean = json!({"Records": [message("m-4", r#"{"account":"d","amount_cents":1}"#)]});
    let record = env.invoke(clean.to_string()).await;
    assert_eq!(
        record.outcome.json().unwrap(),
        json!({"batchItemFailures": []})
    );
    assert_eq!(
        payments(&url).await,
        vec![
            ("m-1".to_owned(), 500),
            ("m-3".to_owned(), 250),
            ("m-4".to_owned(), 1)
        ]
    );
    env.shutdown().await;
    let _ = std::fs::remove_file(path);
}
