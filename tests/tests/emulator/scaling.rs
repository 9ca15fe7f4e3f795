//! The emulator scales as Lambda does: open-loop arrivals, a new environment only when none
//! has room, throttles at the reserved concurrency and beyond the scaling rate, idle
//! environments reclaimed with the SHUTDOWN sequence. Judged by the hand-written
//! `lambda_runtime` function, at CI scale (a spike of 100 environments).

use std::time::Duration;

use lambda_thaw_emulator::scaling::{Arrivals, ScaledFleet, Scaling};
use lambda_thaw_emulator::{FunctionConfig, InvocationRecord, Outcome, Summary};

fn handwritten() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_handwritten"))
        .env("RUST_LOG", "warn")
        .timeout(Duration::from_secs(30))
        // A hundred processes cold-starting on two cores take their time.
        .init_timeout(Duration::from_secs(30))
}

fn events<T: From<String>>(event: &str, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from(event.to_owned())).collect()
}

/// The reason in each throttled record's message, and how many of each.
fn throttle_reasons(records: &[InvocationRecord]) -> Vec<(String, usize)> {
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for record in records {
        if let Outcome::Throttled(error) = &record.outcome {
            assert_eq!(error.error_type, "TooManyRequestsException");
            let reason = error
                .error_message
                .split("Reason: ")
                .nth(1)
                .unwrap_or_default()
                .trim_end_matches(')')
                .to_owned();
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => reasons.push((reason, 1)),
            }
        }
    }
    reasons
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spike_starts_an_environment_per_arrival_up_to_the_reserved_concurrency_and_throttles_the_rest()
 {
    let fleet = ScaledFleet::new(
        handwritten(),
        Scaling {
            reserved_concurrency: 100,
            ..Scaling::default()
        },
    )
    .sample_every(Duration::from_millis(50), None);
    // 130 arrivals within 130 ms, each holding its environment for 1.5 s: none is free
    // again before the last arrives.
    let spike = fleet
        .run(
            events(r#"{"sleep_ms":1500}"#, 130),
            &Arrivals::rate(1000.0, 130),
            |_, _| {},
        )
        .await;
    let summary = Summary::of(&spike);
    assert_eq!(
        (summary.invocations, summary.throttles, summary.cold_starts),
        (130, 30, 100),
        "{summary:?}"
    );
    assert_eq!(
        summary.errors,
        30,
        "only the throttles failed: {:?}",
        spike.iter().find(|r| matches!(
            r.outcome,
            Outcome::Error(_) | Outcome::InitFailed(_) | Outcome::Crashed(_) | Outcome::Timeout
        ))
    );
    assert_eq!(
        throttle_reasons(&spike),
        [(
            "ReservedFunctionConcurrentInvocationLimitExceeded".to_owned(),
            30
        )]
    );
    // The throttles are the last 30 arrivals: the first 100 each got an environment.
    assert!(spike[..100].iter().all(|r| r.outcome.is_response()));
    assert_eq!(fleet.environments().len(), 100);
    let timeline = fleet.timeline(&spike, Duration::from_millis(100));
    let total = |f: fn(&lambda_thaw_emulator::timeline::Bucket) -> usize| {
        timeline.buckets.iter().map(f).sum::<usize>()
    };
    assert_eq!((total(|b| b.arrivals), total(|b| b.throttles)), (130, 30));
    assert_eq!(timeline.peak_environments, 100, "{timeline:#?}");
    assert!(
        timeline.buckets.iter().all(|b| b.in_flight <= 100),
        "never more in flight than the reserved concurrency"
    );
    let (median, largest) = timeline
        .rss_per_environment_kib
        .expect("memory was sampled");
    println!("resident memory per environment: median {median} KiB, largest {largest} KiB");
    assert!(median > 0 && largest >= median);

    // Every environment is idle now: the next wave is served warm, by the same 100.
    let wave = fleet
        .run(
            events(r#"{"sleep_ms":100}"#, 100),
            &Arrivals::rate(1000.0, 100),
            |_, _| {},
        )
        .await;
    let summary = Summary::of(&wave);
    assert_eq!((summary.errors, summary.cold_starts), (0, 0), "{summary:?}");
    assert_eq!(fleet.environments().len(), 100, "no environment was added");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_environments_beyond_the_scaling_rate_are_throttled_while_warm_ones_serve() {
    let fleet = ScaledFleet::new(
        handwritten(),
        Scaling {
            scale_rate: (3, Duration::from_secs(60)),
            ..Scaling::default()
        },
    );
    let first = fleet
        .run(
            events(r#"{"sleep_ms":800}"#, 10),
            &Arrivals::rate(1000.0, 10),
            |_, _| {},
        )
        .await;
    assert_eq!(
        throttle_reasons(&first),
        [("FunctionScalingRateExceeded".to_owned(), 7)]
    );
    assert!(first[..3].iter().all(|r| r.outcome.is_response()));
    // Within the same window, arrivals the three warm environments can take are served;
    // the fourth at once would need a new one.
    let second = fleet
        .run(
            events(r#"{"sleep_ms":500}"#, 4),
            &Arrivals::rate(1000.0, 4),
            |_, _| {},
        )
        .await;
    let summary = Summary::of(&second);
    assert_eq!(
        (summary.throttles, summary.cold_starts),
        (1, 0),
        "{summary:?}"
    );
    assert_eq!(fleet.environments().len(), 3);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_environment_is_reclaimed_with_the_shutdown_sequence_and_the_next_arrival_is_cold()
{
    let fleet = ScaledFleet::new(
        handwritten().env("FIXTURE_GRACEFUL", "1"),
        Scaling {
            idle_timeout: Some(Duration::from_millis(300)),
            ..Scaling::default()
        },
    );
    let first = fleet
        .run(
            events(r#"{"message":"hi"}"#, 1),
            &Arrivals(vec![Duration::ZERO]),
            |_, _| {},
        )
        .await;
    assert!(first[0].cold_start.is_some());
    // At once, then 2 s later: long past the 300 ms idle timeout.
    let arrivals = Arrivals([0, 2000].map(Duration::from_millis).to_vec());
    let records = fleet
        .run(events(r#"{"message":"hi"}"#, 2), &arrivals, |_, _| {})
        .await;
    assert!(
        records.iter().all(|r| r.outcome.is_response()),
        "{records:?}"
    );
    let cold: Vec<bool> = records.iter().map(|r| r.cold_start.is_some()).collect();
    assert_eq!(cold, [false, true], "warm while it was kept, cold after");
    assert_eq!(
        records.iter().map(|r| r.environment).collect::<Vec<_>>(),
        [0, 1],
        "a new environment, not the reclaimed one"
    );
    let reclaimed = fleet.reclaimed().await;
    assert_eq!(reclaimed.len(), 1, "{reclaimed:?}");
    let (index, report) = &reclaimed[0];
    assert_eq!(*index, 0);
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "{report:?}"
    );
    let first = &fleet.environments()[0];
    assert!(
        first
            .logs()
            .wait_for("graceful shutdown hook ran", Duration::from_secs(5))
            .await
            .is_some(),
        "{}",
        first.logs().text()
    );
    fleet.shutdown().await;
}
