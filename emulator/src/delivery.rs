//! At-least-once delivery, as Lambda's asynchronous invocations deliver events: a delivery
//! that fails (an error, a timeout, a crash) is retried — twice, after one and then two
//! minutes on Lambda, here after delays of the test's choosing — and an event still failing
//! goes to the dead letters; now and then an event is delivered twice (sometimes both at
//! once); and now and then an answer is lost — the environment killed the moment its
//! function answers, as when it dies just after committing — and the event is delivered
//! again. What a function must survive to write each event's effect exactly once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::fleet::Fleet;
use crate::outcome::InvocationRecord;
use crate::scaling::{Arrivals, ScaledFleet};

/// How events are delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The wait before each retry of a failed delivery; as many retries as delays.
    /// Lambda's asynchronous invocations: two, after 1 and 2 minutes.
    pub retry_delays: Vec<Duration>,
    /// The share of events delivered a second time (0.1: one in ten).
    pub duplicates: f64,
    /// The share of duplicates delivered at the same moment as the first delivery, the
    /// rest some milliseconds later.
    pub concurrent_duplicates: f64,
    /// The share of deliveries whose answer is lost.
    pub lost_answers: f64,
    /// The draws' seed: the same seed, the same duplicates and losses.
    pub seed: u64,
    /// A throttled delivery (`TooManyRequestsException`) is retried after this wait,
    /// doubling up to the second value, for as long as it takes — Lambda retries throttles
    /// of asynchronous invocations for up to 6 hours, apart from the function-error
    /// retries above ([`deliver_scaled`]).
    pub throttle_backoff: (Duration, Duration),
}

impl Delivery {
    /// Lambda's asynchronous invocations with their delays scaled by `scale` (1.0: 1 and
    /// 2 minutes; 0.001: 60 and 120 ms), no duplicates, no lost answers.
    pub fn asynchronous(scale: f64) -> Self {
        Self {
            retry_delays: vec![
                Duration::from_secs_f64(60.0 * scale),
                Duration::from_secs_f64(120.0 * scale),
            ],
            duplicates: 0.0,
            concurrent_duplicates: 0.5,
            lost_answers: 0.0,
            seed: 1,
            // Lambda: from 1 s, up to 5 minutes.
            throttle_backoff: (
                Duration::from_secs_f64(scale),
                Duration::from_secs_f64(300.0 * scale),
            ),
        }
    }
}

/// One delivery of one event.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The event's index.
    pub event: usize,
    /// 0 for a first delivery (or a duplicate's), 1.. for retries.
    pub attempt: usize,
    /// A duplicate the source added, not a retry.
    pub duplicate: bool,
    /// Its answer was lost: the environment was killed as the function answered.
    pub lost: bool,
    /// What the emulator recorded.
    pub record: InvocationRecord,
}

/// What a delivery run did.
#[derive(Debug, Clone, Default)]
pub struct DeliveryReport {
    /// Every delivery, in the order they ended.
    pub deliveries: Vec<Delivered>,
    /// Per event, the first response a caller saw (`None`: none did).
    pub answers: Vec<Option<Bytes>>,
    /// Events that failed their last retry.
    pub dead_letters: Vec<usize>,
}

impl DeliveryReport {
    /// Deliveries that were retries of a failed delivery.
    pub fn retries(&self) -> usize {
        self.deliveries.iter().filter(|d| d.attempt > 0).count()
    }

    /// Deliveries Lambda throttled (each retried after its back-off).
    pub fn throttles(&self) -> usize {
        self.deliveries
            .iter()
            .filter(|d| matches!(d.record.outcome, crate::Outcome::Throttled(_)))
            .count()
    }

    /// Duplicates the source added.
    pub fn duplicates(&self) -> usize {
        self.deliveries.iter().filter(|d| d.duplicate).count()
    }

    /// Deliveries whose answer was lost.
    pub fn lost(&self) -> usize {
        self.deliveries.iter().filter(|d| d.lost).count()
    }

    /// Responses (not the first) that differ from their event's first response: a
    /// duplicate or retry answered otherwise than the first delivery that was answered.
    pub fn differing_answers(&self) -> usize {
        self.deliveries
            .iter()
            .filter(|d| match (&d.record.outcome, &self.answers[d.event]) {
                (crate::Outcome::Response(body), Some(first)) => body != first,
                _ => false,
            })
            .count()
    }
}

/// One delivery waiting to be made.
struct Pending {
    event: usize,
    attempt: usize,
    duplicate: bool,
    not_before: Instant,
}

/// Deterministic draws (xorshift64*), enough for shares of deliveries.
pub(crate) struct Draws(u64);

impl Draws {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Uniform in [0, 1).
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Queue {
    pending: VecDeque<Pending>,
    /// Deliveries queued or in flight: the run ends when none is left.
    outstanding: usize,
    draws: Draws,
    report: DeliveryReport,
}

/// Delivers `events` through `fleet` (each environment taking as many at a time as its
/// concurrency allows) as `delivery` says, and reports every delivery.
pub async fn deliver(fleet: &Fleet, events: Vec<Bytes>, delivery: &Delivery) -> DeliveryReport {
    let start = Instant::now();
    let mut draws = Draws::new(delivery.seed);
    let mut pending = VecDeque::new();
    for event in 0..events.len() {
        pending.push_back(Pending {
            event,
            attempt: 0,
            duplicate: false,
            not_before: start,
        });
        if draws.next() < delivery.duplicates {
            let later = if draws.next() < delivery.concurrent_duplicates {
                Duration::ZERO
            } else {
                Duration::from_millis(5 + (draws.next() * 200.0) as u64)
            };
            pending.push_back(Pending {
                event,
                attempt: 0,
                duplicate: true,
                not_before: start + later,
            });
        }
    }
    let queue = Arc::new(Mutex::new(Queue {
        outstanding: pending.len(),
        pending,
        draws,
        report: DeliveryReport {
            answers: vec![None; events.len()],
            ..DeliveryReport::default()
        },
    }));
    let events = Arc::new(events);
    let mut workers = tokio::task::JoinSet::new();
    for environment in fleet.environments() {
        for _ in 0..fleet.per_environment() {
            let (environment, queue, events) = (environment.clone(), queue.clone(), events.clone());
            let delivery = delivery.clone();
            workers.spawn(async move {
                loop {
                    let next = {
                        let mut queue = queue.lock().unwrap();
                        if queue.outstanding == 0 {
                            break;
                        }
                        let now = Instant::now();
                        let ready = queue.pending.iter().position(|p| p.not_before <= now);
                        ready.and_then(|i| queue.pending.remove(i)).map(|pending| {
                            let lose = queue.draws.next() < delivery.lost_answers;
                            (pending, lose)
                        })
                    };
                    let Some((pending, lose)) = next else {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    };
                    let event = events[pending.event].clone();
                    let record = if lose {
                        environment.invoke_losing_answer(event).await
                    } else {
                        environment.invoke(event).await
                    };
                    let mut queue = queue.lock().unwrap();
                    queue.outstanding -= 1;
                    match &record.outcome {
                        crate::Outcome::Response(body) => {
                            let first = &mut queue.report.answers[pending.event];
                            if first.is_none() {
                                *first = Some(body.clone());
                            }
                        }
                        _ => match delivery.retry_delays.get(pending.attempt) {
                            Some(delay) => {
                                queue.outstanding += 1;
                                queue.pending.push_back(Pending {
                                    event: pending.event,
                                    attempt: pending.attempt + 1,
                                    duplicate: false,
                                    not_before: Instant::now() + *delay,
                                });
                            }
                            None => queue.report.dead_letters.push(pending.event),
                        },
                    }
                    queue.report.deliveries.push(Delivered {
                        event: pending.event,
                        attempt: pending.attempt,
                        duplicate: pending.duplicate,
                        lost: lose,
                        record,
                    });
                }
            });
        }
    }
    while workers.join_next().await.is_some() {}
    let queue = Arc::try_unwrap(queue)
        .ok()
        .expect("every worker has ended")
        .into_inner()
        .unwrap();
    queue.report
}

/// Delivers `events` at their `arrivals` through Lambda's scaling model, as an
/// asynchronous source does: a throttled delivery waits its back-off and tries again (not
/// counted against the retries), a failed one is retried after each delay and then
/// dead-lettered; duplicates and lost answers as `delivery` says. Reports every delivery.
pub async fn deliver_scaled(
    fleet: &ScaledFleet,
    events: Vec<Bytes>,
    arrivals: &Arrivals,
    delivery: &Delivery,
) -> DeliveryReport {
    let start = tokio::time::Instant::now();
    let mut draws = Draws::new(delivery.seed);
    // (event, duplicate, when, each attempt's loss drawn up front)
    let mut plan = Vec::new();
    for (event, at) in arrivals.0.iter().enumerate().take(events.len()) {
        let losses: Vec<bool> = (0..=delivery.retry_delays.len() + 64)
            .map(|_| draws.next() < delivery.lost_answers)
            .collect();
        plan.push((event, false, *at, losses));
        if draws.next() < delivery.duplicates {
            let later = if draws.next() < delivery.concurrent_duplicates {
                Duration::ZERO
            } else {
                Duration::from_millis(5 + (draws.next() * 200.0) as u64)
            };
            let losses: Vec<bool> = (0..=delivery.retry_delays.len() + 64)
                .map(|_| draws.next() < delivery.lost_answers)
                .collect();
            plan.push((event, true, *at + later, losses));
        }
    }
    let report = Mutex::new(DeliveryReport {
        answers: vec![None; events.len()],
        ..DeliveryReport::default()
    });
    let deliveries = plan.into_iter().map(|(event, duplicate, at, losses)| {
        let (report, events) = (&report, &events);
        async move {
            tokio::time::sleep_until(start + at).await;
            let mut attempt = 0;
            let mut backoff = delivery.throttle_backoff.0;
            let mut tries = 0;
            loop {
                let lose = losses.get(tries).copied().unwrap_or(false);
                tries += 1;
                let record = fleet.invoke(events[event].clone(), lose).await;
                let outcome = record.outcome.clone();
                {
                    let mut report = report.lock().unwrap();
                    if let crate::Outcome::Response(body) = &outcome
                        && report.answers[event].is_none()
                    {
                        report.answers[event] = Some(body.clone());
                    }
                    report.deliveries.push(Delivered {
                        event,
                        attempt,
                        duplicate: duplicate && attempt == 0,
                        lost: lose,
                        record,
                    });
                }
                match outcome {
                    crate::Outcome::Response(_) => return,
                    crate::Outcome::Throttled(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(delivery.throttle_backoff.1);
                    }
                    _ => match delivery.retry_delays.get(attempt) {
                        Some(delay) => {
                            tokio::time::sleep(*delay).await;
                            attempt += 1;
                        }
                        None => {
                            report.lock().unwrap().dead_letters.push(event);
                            return;
                        }
                    },
                }
            }
        }
    });
    futures_util::future::join_all(deliveries).await;
    report.into_inner().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draws_are_uniform_enough_and_repeat_with_their_seed() {
        let mut a = Draws::new(7);
        let mut b = Draws::new(7);
        let values: Vec<f64> = (0..10_000).map(|_| a.next()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let below = values.iter().filter(|v| **v < 0.1).count();
        assert!((800..1200).contains(&below), "{below} of 10,000 below 0.1");
        assert!(
            values
                .iter()
                .zip((0..).map(|_| b.next()))
                .all(|(x, y)| *x == y)
        );
    }

    #[test]
    fn asynchronous_delivery_retries_twice_after_scaled_delays() {
        let delivery = Delivery::asynchronous(0.001);
        assert_eq!(
            delivery.retry_delays,
            vec![Duration::from_millis(60), Duration::from_millis(120)]
        );
        assert_eq!((delivery.duplicates, delivery.lost_answers), (0.0, 0.0));
    }
}
