//! An SQS queue as Lambda's event source mapping polls it: batches of up to `batch_size`
//! visible messages handed to the function; a message the function does not report as
//! failed (`batchItemFailures`) is deleted; the whole batch — after an error, a timeout,
//! a crash or a lost answer — or each reported message comes back once its visibility
//! timeout passes; a message received `max_receives` times and failing again goes to the
//! dead-letter queue. As SQS standard queues do, now and then a message is received twice
//! (here: left visible while a batch holds it, so another poller may take it at once).

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::delivery::Draws;
use crate::fleet::Fleet;
use crate::outcome::Outcome;

/// How the queue and its event source mapping behave.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsSource {
    /// Messages per batch at most (Lambda's default: 10).
    pub batch_size: usize,
    /// How long a received message stays invisible; one that was not deleted comes back
    /// after it.
    pub visibility_timeout: Duration,
    /// Receives before a failing message goes to the dead-letter queue (the redrive
    /// policy's `maxReceiveCount`).
    pub max_receives: u32,
    /// Whether the mapping reads `batchItemFailures` (`ReportBatchItemFailures`); without
    /// it, a batch that answers at all has all its messages deleted.
    pub report_batch_item_failures: bool,
    /// The share of received messages received a second time.
    pub duplicates: f64,
    /// The share of batches whose answer is lost (the environment killed as it answers).
    pub lost_answers: f64,
    /// The draws' seed.
    pub seed: u64,
}

impl Default for SqsSource {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility_timeout: Duration::from_millis(200),
            max_receives: 5,
            report_batch_item_failures: true,
            duplicates: 0.0,
            lost_answers: 0.0,
            seed: 1,
        }
    }
}

/// What a run of the queue did.
#[derive(Debug, Clone, Default)]
pub struct SqsReport {
    /// Batches handed to the function.
    pub batches: usize,
    /// Messages received, counting every receive of each.
    pub receives: usize,
    /// Receives that were duplicates (the message held by another batch at the time).
    pub duplicates: usize,
    /// Batches whose answer was lost.
    pub lost: usize,
    /// Batches that failed as a whole (an error, a timeout, a crash, a lost answer).
    pub failed_batches: usize,
    /// Messages the function reported as failed.
    pub reported_failures: usize,
    /// The dead-letter queue: messages' indexes.
    pub dead_letters: Vec<usize>,
}

struct Message {
    index: usize,
    receives: u32,
    visible_at: Instant,
}

struct Queue {
    waiting: VecDeque<Message>,
    /// Messages held by a batch, by index: deleted unless it fails.
    in_flight: BTreeSet<usize>,
    /// Messages deleted (done).
    done: BTreeSet<usize>,
    draws: Draws,
    report: SqsReport,
}

/// Sends `bodies` through the queue to `fleet` (each environment polling as many batches
/// at a time as its concurrency allows) until every message is deleted or dead-lettered.
pub async fn deliver_sqs(fleet: &Fleet, bodies: Vec<String>, source: &SqsSource) -> SqsReport {
    let now = Instant::now();
    let total = bodies.len();
    let queue = Arc::new(Mutex::new(Queue {
        waiting: (0..total)
            .map(|index| Message {
                index,
                receives: 0,
                visible_at: now,
            })
            .collect(),
        in_flight: BTreeSet::new(),
        done: BTreeSet::new(),
        draws: Draws::new(source.seed),
        report: SqsReport::default(),
    }));
    let bodies = Arc::new(bodies);
    let mut pollers = tokio::task::JoinSet::new();
    for environment in fleet.environments() {
        for _ in 0..fleet.per_environment() {
            let (environment, queue, bodies) = (environment.clone(), queue.clone(), bodies.clone());
            let source = source.clone();
            pollers.spawn(async move {
                loop {
                    let taken = {
                        let mut queue = queue.lock().unwrap();
                        if queue.done.len() + queue.report.dead_letters.len() >= total {
                            break;
                        }
                        receive(&mut queue, &source)
                    };
                    let Some((batch, lose)) = taken else {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    };
                    let event = event_of(&batch, &bodies);
                    let record = if lose {
                        environment.invoke_losing_answer(event.to_string()).await
                    } else {
                        environment.invoke(event.to_string()).await
                    };
                    let failed: Option<BTreeSet<usize>> = match &record.outcome {
                        Outcome::Response(body) if source.report_batch_item_failures => {
                            Some(reported_failures(body, &batch))
                        }
                        Outcome::Response(_) => Some(BTreeSet::new()),
                        _ => None,
                    };
                    let mut queue = queue.lock().unwrap();
                    settle(&mut queue, batch, failed, &source);
                }
            });
        }
    }
    while pollers.join_next().await.is_some() {}
    let queue = Arc::try_unwrap(queue)
        .ok()
        .expect("every poller has ended")
        .into_inner()
        .unwrap();
    queue.report
}

/// Takes up to a batch of visible messages, marking them in flight (and drawing which
/// stay visible as duplicates, and whether the batch's answer is lost).
fn receive(queue: &mut Queue, source: &SqsSource) -> Option<(Vec<(usize, u32)>, bool)> {
    let now = Instant::now();
    let mut batch = Vec::new();
    let mut i = 0;
    while i < queue.waiting.len() && batch.len() < source.batch_size {
        if queue.waiting[i].visible_at > now {
            i += 1;
            continue;
        }
        let duplicate = queue.in_flight.contains(&queue.waiting[i].index);
        let stays = !duplicate && queue.draws.next() < source.duplicates;
        let message = if stays {
            // Received now, and left visible for another receive.
            let message = &mut queue.waiting[i];
            message.receives += 1;
            i += 1;
            (message.index, message.receives)
        } else {
            let mut message = queue.waiting.remove(i).expect("in range");
            message.receives += 1;
            (message.index, message.receives)
        };
        if duplicate {
            queue.report.duplicates += 1;
        }
        queue.in_flight.insert(message.0);
        batch.push(message);
    }
    if batch.is_empty() {
        return None;
    }
    queue.report.batches += 1;
    queue.report.receives += batch.len();
    let lose = queue.draws.next() < source.lost_answers;
    if lose {
        queue.report.lost += 1;
    }
    Some((batch, lose))
}

/// After a batch: its messages deleted, except the failed ones (`None`: all of them),
/// which come back after the visibility timeout or go to the dead letters.
fn settle(
    queue: &mut Queue,
    batch: Vec<(usize, u32)>,
    failed: Option<BTreeSet<usize>>,
    source: &SqsSource,
) {
    if failed.is_none() {
        queue.report.failed_batches += 1;
    }
    let visible_at = Instant::now() + source.visibility_timeout;
    for (index, receives) in batch {
        queue.in_flight.remove(&index);
        let failed_here = failed.as_ref().is_none_or(|f| f.contains(&index));
        if failed.as_ref().is_some_and(|f| f.contains(&index)) {
            queue.report.reported_failures += 1;
        }
        // A duplicate receive of a message another batch deleted meanwhile: nothing left.
        if queue.done.contains(&index) || queue.report.dead_letters.contains(&index) {
            continue;
        }
        let still_waiting = queue.waiting.iter().position(|m| m.index == index);
        if !failed_here {
            queue.done.insert(index);
            if let Some(at) = still_waiting {
                queue.waiting.remove(at);
            }
        } else if receives >= source.max_receives {
            queue.report.dead_letters.push(index);
            if let Some(at) = still_waiting {
                queue.waiting.remove(at);
            }
        } else if still_waiting.is_none() {
            queue.waiting.push_back(Message {
                index,
                receives,
                visible_at,
            });
        }
    }
}

/// The SQS event of a batch: Lambda's shape, one record per message.
fn event_of(batch: &[(usize, u32)], bodies: &[String]) -> Value {
    let records: Vec<Value> = batch
        .iter()
        .map(|(index, receives)| {
            json!({
                "messageId": format!("msg-{index}"),
                "receiptHandle": format!("handle-{index}-{receives}"),
                "body": bodies[*index],
                "attributes": {
                    "ApproximateReceiveCount": receives.to_string(),
                    "SentTimestamp": "1700000000000",
                    "SenderId": "emulator",
                    "ApproximateFirstReceiveTimestamp": "1700000000000"
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:emulated",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The messages a response names in `batchItemFailures`. A response that does not parse
/// as one fails the whole batch, as Lambda treats it.
fn reported_failures(body: &[u8], batch: &[(usize, u32)]) -> BTreeSet<usize> {
    let all = || batch.iter().map(|(index, _)| *index).collect();
    let Ok(response) = serde_json::from_slice::<Value>(body) else {
        return all();
    };
    let Some(failures) = response.get("batchItemFailures").and_then(Value::as_array) else {
        // No `batchItemFailures` at all: success.
        return BTreeSet::new();
    };
    let mut failed = BTreeSet::new();
    for failure in failures {
        let id = failure.get("itemIdentifier").and_then(Value::as_str);
        match id.and_then(|id| id.strip_prefix("msg-")?.parse::<usize>().ok()) {
            Some(index) if batch.iter().any(|(i, _)| *i == index) => {
                failed.insert(index);
            }
            // An identifier that is not in the batch: Lambda fails the whole batch.
            _ => return all(),
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_item_failures_name_messages_of_the_batch_or_fail_it_whole() {
        let batch = [(3, 1), (4, 1), (5, 2)];
        let ids = |set: BTreeSet<usize>| set.into_iter().collect::<Vec<_>>();
        assert_eq!(
            ids(reported_failures(
                br#"{"batchItemFailures":[{"itemIdentifier":"msg-4"}]}"#,
                &batch
            )),
            vec![4]
        );
        assert_eq!(
            ids(reported_failures(br#"{"batchItemFailures":[]}"#, &batch)),
            Vec::<usize>::new()
        );
        assert_eq!(
            ids(reported_failures(br#"{}"#, &batch)),
            Vec::<usize>::new()
        );
        // Not in the batch, or not a response at all: the whole batch failed.
        assert_eq!(
            ids(reported_failures(
                br#"{"batchItemFailures":[{"itemIdentifier":"msg-9"}]}"#,
                &batch
            )),
            vec![3, 4, 5]
        );
        assert_eq!(ids(reported_failures(b"not json", &batch)), vec![3, 4, 5]);
    }

    #[test]
    fn the_event_carries_each_message_with_its_receive_count() {
        let event = event_of(&[(0, 1), (7, 3)], &vec!["a".to_owned(); 8]);
        let records = event["Records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["messageId"], "msg-7");
        assert_eq!(records[1]["attributes"]["ApproximateReceiveCount"], "3");
        assert_eq!(records[0]["eventSource"], "aws:sqs");
    }
}
