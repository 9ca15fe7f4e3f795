//! The emulator's at-least-once delivery, judged on the hand-written function: a lost
//! answer, retries with their delays, dead letters, duplicates.

use lambda_thaw_emulator::delivery::{Delivery, deliver};
use lambda_thaw_emulator::{Environment, Fleet, FunctionConfig, Outcome};

fn handwritten() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_handwritten")).env("RUST_LOG", "warn")
}

#[tokio::test]
async fn a_lost_answer_kills_the_environment_as_it_answers_and_the_caller_never_sees_it() {
    let environment = Environment::new(handwritten());
    let warm = environment.invoke(r#"{"message": "warm"}"#).await;
    let pid = warm.outcome.json().unwrap()["pid"].as_u64().unwrap();
    let lost = environment
        .invoke_losing_answer(r#"{"message": "committed"}"#)
        .await;
    match &lost.outcome {
        Outcome::Crashed(error) => {
            assert_eq!(error.error_type, "Runtime.ExitError");
            assert!(error.error_message.contains("answer was lost"), "{error:?}");
        }
        other => panic!("expected the answer lost, got {other:?}"),
    }
    assert!(lost.killed_after_response, "the function had answered");
    assert!(lost.responded_at.is_some());
    // The environment died: the next invocation starts another process.
    let next = environment.invoke(r#"{"message": "again"}"#).await;
    assert!(next.cold_start.is_some(), "{next:?}");
    assert_ne!(next.outcome.json().unwrap()["pid"].as_u64().unwrap(), pid);
    environment.shutdown().await;
}

#[tokio::test]
async fn a_failing_event_is_retried_after_each_delay_then_dead_lettered() {
    let fleet = Fleet::new(handwritten(), 2);
    let delivery = Delivery::asynchronous(0.001); // 60 and 120 ms
    let events = vec![
        r#"{"message": "fine"}"#.into(),
        r#"{"fail": "always"}"#.into(),
    ];
    let report = deliver(&fleet, events, &delivery).await;
    fleet.shutdown().await;
    assert_eq!(report.dead_letters, vec![1]);
    assert!(report.answers[0].is_some() && report.answers[1].is_none());
    let failing: Vec<_> = report.deliveries.iter().filter(|d| d.event == 1).collect();
    assert_eq!(
        failing.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "a first delivery and two retries"
    );
    assert_eq!(report.retries(), 2);
    // Each retry waited its delay after the delivery before it ended.
    for pair in failing.windows(2) {
        let ended = pair[0].record.completed_at.or(pair[0].record.responded_at);
        let gap = pair[1]
            .record
            .invoked_at
            .duration_since(ended.unwrap_or(pair[0].record.invoked_at))
            .unwrap_or_default();
        let delay = delivery.retry_delays[pair[0].attempt];
        assert!(
            gap >= delay,
            "retry {} after {gap:?}, before its delay {delay:?}",
            pair[1].attempt
        );
    }
}

#[tokio::test]
async fn duplicates_and_lost_answers_come_at_their_rates_and_every_event_is_answered() {
    let fleet = Fleet::new(handwritten(), 3);
    let delivery = Delivery {
        duplicates: 0.2,
        lost_answers: 0.1,
        seed: 7,
        ..Delivery::asynchronous(0.0002)
    };
    let events: Vec<_> = (0..200)
        .map(|i| format!(r#"{{"message": "m-{i}"}}"#).into())
        .collect();
    let report = deliver(&fleet, events, &delivery).await;
    fleet.shutdown().await;
    assert!(
        (25..=55).contains(&report.duplicates()),
        "{} duplicates of 200",
        report.duplicates()
    );
    assert!(
        (8..=40).contains(&report.lost()),
        "{} answers lost",
        report.lost()
    );
    // Every lost answer was delivered again — unless it was the last retry's: then the
    // event went to the dead letters. Nothing else failed.
    let last = delivery.retry_delays.len();
    let lost_then_retried = report
        .deliveries
        .iter()
        .filter(|d| d.lost && d.attempt < last)
        .count();
    assert_eq!(report.retries(), lost_then_retried);
    let mut given_up: Vec<usize> = report
        .deliveries
        .iter()
        .filter(|d| d.lost && d.attempt == last)
        .map(|d| d.event)
        .collect();
    given_up.sort_unstable();
    let mut dead = report.dead_letters.clone();
    dead.sort_unstable();
    assert_eq!(dead, given_up);
    for (event, answer) in report.answers.iter().enumerate() {
        assert!(
            answer.is_some() || dead.contains(&event),
            "event {event} neither answered nor given up"
        );
    }
    assert_eq!(
        report.deliveries.len(),
        200 + report.duplicates() + report.retries()
    );
}

#[tokio::test]
async fn an_asynchronous_source_retries_throttled_deliveries_until_each_is_served() {
    use lambda_thaw_emulator::scaling::{Arrivals, ScaledFleet, Scaling};
    // Two environments at most; six events arriving at once, each 100 ms long.
    let fleet = ScaledFleet::new(
        handwritten(),
        Scaling {
            reserved_concurrency: 2,
            ..Scaling::default()
        },
    );
    let events: Vec<_> = (0..6).map(|_| r#"{"sleep_ms": 100}"#.into()).collect();
    let delivery = Delivery::asynchronous(0.02); // throttles retried from 20 ms, doubling
    let report = lambda_thaw_emulator::delivery::deliver_scaled(
        &fleet,
        events,
        &Arrivals::rate(100_000.0, 6),
        &delivery,
    )
    .await;
    fleet.shutdown().await;
    assert!(report.throttles() >= 4, "{} throttled", report.throttles());
    assert!(
        report.dead_letters.is_empty(),
        "throttles are not retries: none given up"
    );
    assert_eq!(report.retries(), 0);
    assert!(
        report.answers.iter().all(Option::is_some),
        "every event served in the end"
    );
    assert_eq!(fleet.environments().len(), 2);
}
