//! Batches from SQS, Kinesis and DynamoDB Streams (feature `batch`): each record processed on
//! its own, and only the failures reported back, so that Lambda retries those and not the
//! records that succeeded.
//!
//! * **SQS** ([`sqs`]): records run up to `concurrency` at once; each failure — an error, a
//!   panic, or a record not started because the invocation's deadline was near — becomes a
//!   `batchItemFailures` entry (the event source mapping needs `ReportBatchItemFailures`).
//!   A **FIFO** queue (its ARN ends in `.fifo`) is processed one record at a time, in order,
//!   and stops at the first failure: that record and every one after it are reported, so
//!   that no message overtakes one of its group that failed.
//! * **Kinesis and DynamoDB Streams** ([`in_order`], and `kinesis` / `dynamodb` with
//!   features `batch-kinesis` / `batch-dynamodb`): a shard is a sequence; records run in
//!   order and the first failure is the checkpoint — its sequence number is reported, and
//!   Lambda retries from there.
//!
//! ```no_run
//! use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
//! use lambda_thaw::{Error, LambdaEvent, handler};
//!
//! # struct Db;
//! # async fn record(_: &Db, _: &str) -> Result<(), Error> { Ok(()) }
//! # async fn setup() -> Result<Db, Error> { Ok(Db) }
//! #[handler(init = setup)]
//! async fn handle(event: LambdaEvent<SqsEvent>, db: &Db) -> Result<SqsBatchResponse, Error> {
//!     Ok(lambda_thaw::batch::sqs(event.payload, 10, |message| async move {
//!         record(db, message.body.as_deref().unwrap_or_default()).await
//!     })
//!     .await)
//! }
//! # fn main() {}
//! ```

use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::FutureExt;
use futures_util::stream::{self, StreamExt};

use crate::lifecycle::errors::panic_message;
use crate::lifecycle::scope::time_before_guard;

/// A record is not started with less than this left before the deadline guard cancels the
/// handler (the invocation's deadline less the function's `deadline_margin`): it is
/// reported as failed and comes back, rather than be cut off half-way with the batch.
pub const START_MARGIN: Duration = Duration::from_millis(500);

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    Failed(String),
    /// Not started: the deadline was near, or an earlier record of a FIFO queue failed.
    NotStarted(&'static str),
}

/// Runs `process` on `record`, its error or panic as text.
async fn run_one<R, F, Fut, E>(record: R, process: &F) -> Outcome
where
    F: Fn(R) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    if time_before_guard().is_some_and(|left| left < START_MARGIN) {
        return Outcome::NotStarted("the invocation's deadline was near");
    }
    match AssertUnwindSafe(process(record)).catch_unwind().await {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(error)) => Outcome::Failed(error.to_string()),
        Err(payload) => Outcome::Failed(format!("panicked: {}", panic_message(&*payload))),
    }
}

/// The event and response types the batches take and give, re-exported from
/// `aws_lambda_events` at the version lambda-thaw is built with: a test builds its events
/// from here without adding that crate at a matching version by hand.
pub mod events {
    pub use aws_lambda_events::sqs;
    pub use aws_lambda_events::streams;

    #[cfg(feature = "batch-dynamodb")]
    #[cfg_attr(docsrs, doc(cfg(feature = "batch-dynamodb")))]
    pub use aws_lambda_events::dynamodb;
    #[cfg(feature = "batch-kinesis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "batch-kinesis")))]
    pub use aws_lambda_events::kinesis;
}

/// Processes an SQS batch: each message through `process`, up to `concurrency` at once (one
/// at a time, stopping at the first failure, for a FIFO queue); the failed messages come
/// back in the response, each logged with its reason. See the [module](self) for the rules.
///
/// Messages that each hold a database connection (an idempotency claim in transactional
/// mode holds one for its whole transaction) run no more at once than the pool has
/// connections: [`pool_options`](crate::sqlx::pool_options) sizes the pool from the
/// environment's concurrency (1 on classic Lambda), so give a batch function's pool
/// `.max_connections(concurrency as u32)` for `concurrency` messages to run at once.
pub async fn sqs<F, Fut, E>(event: SqsEvent, concurrency: usize, process: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let fifo = event
        .records
        .first()
        .and_then(|m| m.event_source_arn.as_deref())
        .is_some_and(|arn| arn.ends_with(".fifo"));
    let records: Vec<(String, SqsMessage)> = event
        .records
        .into_iter()
        .map(|m| (m.message_id.clone().unwrap_or_default(), m))
        .collect();
    let outcomes: Vec<(String, Outcome)> = if fifo {
        let mut outcomes = Vec::with_capacity(records.len());
        let mut stopped = false;
        for (id, message) in records {
            let outcome = if stopped {
                Outcome::NotStarted("an earlier message of this FIFO batch failed")
            } else {
                run_one(message, &process).await
            };
            stopped |= outcome != Outcome::Done;
            outcomes.push((id, outcome));
        }
        outcomes
    } else {
        let process = &process;
        stream::iter(records)
            .map(|(id, message)| async move { (id, run_one(message, process).await) })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await
    };
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if report(&id, &outcome) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Logs a record that did not succeed; whether it did not.
fn report(id: &str, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Done => false,
        Outcome::Failed(reason) => {
            tracing::warn!(record = %id, %reason, "record failed; it will be retried");
            true
        }
        Outcome::NotStarted(why) => {
            tracing::warn!(record = %id, "record not started ({why}); it will be retried");
            true
        }
    }
}

/// Processes a stream's records in order and returns the checkpoint: the sequence number
/// (as `sequence_number` reads it) of the first record that failed or was not started,
/// which Lambda retries from; `None` when every record succeeded. Records after the first
/// failure are not run.
pub async fn in_order<R, F, Fut, E>(
    records: Vec<R>,
    sequence_number: impl Fn(&R) -> Option<String>,
    process: F,
) -> Option<String>
where
    F: Fn(R) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    for record in records {
        let id = sequence_number(&record).unwrap_or_default();
        let outcome = run_one(record, &process).await;
        if report(&id, &outcome) {
            return Some(id);
        }
    }
    None
}

/// [`in_order`] for a Kinesis batch (feature `batch-kinesis`).
#[cfg(feature = "batch-kinesis")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch-kinesis")))]
pub async fn kinesis<F, Fut, E>(
    event: aws_lambda_events::kinesis::KinesisEvent,
    process: F,
) -> aws_lambda_events::streams::KinesisEventResponse
where
    F: Fn(aws_lambda_events::kinesis::KinesisEventRecord) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let checkpoint = in_order(
        event.records,
        |r| Some(r.kinesis.sequence_number.clone()),
        process,
    )
    .await;
    let mut response = aws_lambda_events::streams::KinesisEventResponse::default();
    if let Some(id) = checkpoint {
        let mut failure = aws_lambda_events::streams::KinesisBatchItemFailure::default();
        failure.item_identifier = Some(id);
        response.batch_item_failures.push(failure);
    }
    response
}

/// [`in_order`] for a DynamoDB Streams batch (feature `batch-dynamodb`).
#[cfg(feature = "batch-dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch-dynamodb")))]
pub async fn dynamodb<F, Fut, E>(
    event: aws_lambda_events::dynamodb::Event,
    process: F,
) -> aws_lambda_events::streams::DynamoDbEventResponse
where
    F: Fn(aws_lambda_events::dynamodb::EventRecord) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let checkpoint = in_order(event.records, |r| r.change.sequence_number.clone(), process).await;
    let mut response = aws_lambda_events::streams::DynamoDbEventResponse::default();
    if let Some(id) = checkpoint {
        let mut failure = aws_lambda_events::streams::DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(id);
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn message(id: &str, body: &str, arn: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.to_owned());
        message.body = Some(body.to_owned());
        message.event_source_arn = Some(arn.to_owned());
        message
    }

    fn batch(bodies: &[&str], arn: &str) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| message(&format!("m{i}"), body, arn))
            .collect();
        event
    }

    const STANDARD: &str = "arn:aws:sqs:us-east-1:000000000000:orders";
    const FIFO: &str = "arn:aws:sqs:us-east-1:000000000000:orders.fifo";

    async fn body_is_ok(message: SqsMessage, seen: &Mutex<Vec<String>>) -> Result<(), String> {
        let body = message.body.unwrap_or_default();
        seen.lock().unwrap().push(body.clone());
        match body.as_str() {
            "ok" => Ok(()),
            "panic" => panic!("record panicked on purpose"),
            other => Err(format!("refused {other}")),
        }
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn only_the_failed_and_panicked_messages_of_a_standard_queue_come_back() {
        let seen = Mutex::new(Vec::new());
        let response = sqs(
            batch(&["ok", "bad", "ok", "panic", "ok"], STANDARD),
            3,
            |m| body_is_ok(m, &seen),
        )
        .await;
        let mut ids = failed(&response);
        ids.sort();
        assert_eq!(ids, ["m1", "m3"]);
        assert_eq!(seen.lock().unwrap().len(), 5, "every message ran");
    }

    #[tokio::test]
    async fn a_fifo_batch_stops_at_the_first_failure_and_reports_the_rest() {
        let seen = Mutex::new(Vec::new());
        let response = sqs(batch(&["ok", "bad", "ok", "ok"], FIFO), 10, |m| {
            body_is_ok(m, &seen)
        })
        .await;
        assert_eq!(failed(&response), ["m1", "m2", "m3"]);
        assert_eq!(
            *seen.lock().unwrap(),
            ["ok", "bad"],
            "nothing ran after the failure"
        );
    }

    #[tokio::test]
    async fn messages_of_a_standard_queue_run_up_to_the_concurrency_at_once() {
        let running = std::sync::atomic::AtomicUsize::new(0);
        let most = std::sync::atomic::AtomicUsize::new(0);
        let response = sqs(batch(&["ok"; 12], STANDARD), 4, |_| async {
            use std::sync::atomic::Ordering::SeqCst;
            let now = running.fetch_add(1, SeqCst) + 1;
            most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            running.fetch_sub(1, SeqCst);
            Ok::<_, String>(())
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn near_the_deadline_records_are_not_started_and_come_back() {
        let invocation = crate::testing::Invocation::new().timeout(Duration::from_millis(400));
        let seen = Mutex::new(Vec::new());
        let response = invocation
            .run(sqs(batch(&["ok", "ok"], STANDARD), 1, |m| {
                body_is_ok(m, &seen)
            }))
            .await
            .response();
        assert_eq!(failed(&response).len(), 2);
        assert!(seen.lock().unwrap().is_empty());
    }

    /// The function's own margin counts: with a guard 450 ms before a deadline 900 ms
    /// away, the guard is under [`START_MARGIN`] away and no record starts — though the
    /// deadline itself is further than that.
    #[tokio::test]
    async fn records_are_not_started_near_the_guard_at_the_function_s_margin() {
        let invocation = crate::testing::Invocation::new()
            .timeout(Duration::from_millis(900))
            .deadline_guard(Duration::from_millis(450));
        let seen = Mutex::new(Vec::new());
        let response = invocation
            .run(sqs(batch(&["ok"], STANDARD), 1, |m| body_is_ok(m, &seen)))
            .await
            .response();
        assert_eq!(failed(&response), ["m0"]);
        assert!(seen.lock().unwrap().is_empty());
        // Without a guard, the same deadline leaves time to start it.
        let invocation = crate::testing::Invocation::new().timeout(Duration::from_millis(900));
        let response = invocation
            .run(sqs(batch(&["ok"], STANDARD), 1, |m| body_is_ok(m, &seen)))
            .await
            .response();
        assert!(failed(&response).is_empty());
    }

    #[cfg(feature = "batch-kinesis")]
    #[tokio::test]
    async fn a_kinesis_batch_reports_its_first_failure_as_the_checkpoint() {
        use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
        let mut event = KinesisEvent::default();
        event.records = ["s1", "s2", "s3"]
            .iter()
            .map(|sequence| {
                let mut record = KinesisEventRecord::default();
                record.kinesis.sequence_number = sequence.to_string();
                record
            })
            .collect();
        let response = kinesis(event, |record| async move {
            match record.kinesis.sequence_number.as_str() {
                "s2" => Err("refused"),
                _ => Ok(()),
            }
        })
        .await;
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(ids, [Some("s2".to_owned())]);
        let all_ok = kinesis(KinesisEvent::default(), |_| async { Ok::<_, String>(()) }).await;
        assert!(all_ok.batch_item_failures.is_empty());
    }

    #[cfg(feature = "batch-dynamodb")]
    #[tokio::test]
    async fn a_dynamodb_batch_reports_its_first_failure_as_the_checkpoint() {
        use aws_lambda_events::dynamodb::{Event, EventRecord};
        let mut event = Event::default();
        event.records = ["d1", "d2", "d3"]
            .iter()
            .map(|sequence| {
                let mut record = EventRecord::default();
                record.change.sequence_number = Some(sequence.to_string());
                record
            })
            .collect();
        let response = dynamodb(event, |record| async move {
            match record.change.sequence_number.as_deref() {
                Some("d3") => Err("refused"),
                _ => Ok(()),
            }
        })
        .await;
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(ids, [Some("d3".to_owned())]);
    }

    #[tokio::test]
    async fn a_stream_checkpoints_at_its_first_failure() {
        let seen = Mutex::new(Vec::new());
        let records = vec![("1", "ok"), ("2", "ok"), ("3", "bad"), ("4", "ok")];
        let checkpoint = in_order(
            records,
            |(sequence, _)| Some(sequence.to_string()),
            |(_, body)| {
                seen.lock().unwrap().push(body);
                async move { if body == "ok" { Ok(()) } else { Err("refused") } }
            },
        )
        .await;
        assert_eq!(checkpoint.as_deref(), Some("3"));
        assert_eq!(*seen.lock().unwrap(), ["ok", "ok", "bad"]);
        let none = in_order(
            vec![1, 2],
            |n| Some(n.to_string()),
            |_| async { Ok::<_, String>(()) },
        )
        .await;
        assert_eq!(none, None);
    }
}
