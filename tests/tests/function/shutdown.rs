//! What the shutdown sequence tells the logs, one case each: nothing in flight, an
//! invocation that cannot answer within the drain limit nor within Lambda's budget, and
//! deferred work still running when the drain limit is up. The fixture is the builder's
//! (`src/bin/thaw_builder.rs`: its state is closed at shutdown, so Lambda sends SIGTERM).
//! The margins are seconds against limits of a few hundred milliseconds, so a loaded
//! machine cannot turn one case into another.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord};

fn builder() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-builder"))
        .env("RUST_LOG", "info")
        .timeout(Duration::from_secs(10))
}

/// Invokes `event` and sends SIGTERM once the function printed `started` (or, without it,
/// after the invocation); returns the invocation's record and everything the process
/// printed. The process must have exited by itself, before Lambda's SIGKILL.
async fn shut_down_during(event: &str, started: Option<&str>) -> (InvocationRecord, String) {
    let env = Environment::new(builder());
    env.start().await.unwrap();
    let (record, report) = match started {
        Some(line) => {
            let shutdown = async {
                let seen = env.logs().wait_for(line, Duration::from_secs(5)).await;
                assert!(seen.is_some(), "no `{line}` in:\n{}", env.logs().text());
                env.shutdown().await.unwrap()
            };
            tokio::join!(env.invoke(event.to_owned()), shutdown)
        }
        None => {
            let record = env.invoke(event.to_owned()).await;
            (record, env.shutdown().await.unwrap())
        }
    };
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "{report:?}"
    );
    // Once the process has exited and its output is read to the end.
    assert!(
        env.logs().drained(Duration::from_secs(5)).await,
        "output still open"
    );
    (record, env.logs().text())
}

/// Each of `said` is in the output, and none of `not_said`.
fn assert_says(text: &str, said: &[&str], not_said: &[&str]) {
    for line in said {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    for line in not_said {
        assert!(!text.contains(line), "`{line}` in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_nothing_in_flight_says_so_and_nothing_else() {
    let (record, text) = shut_down_during(r#"{"message":"hi"}"#, None).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    assert_says(
        &text,
        &[
            "no invocation in flight; shutting down",
            "state closed at shutdown",
        ],
        &["not answered", "still running", "could not answer"],
    );
}

/// An invocation that would outlive Lambda's budget is cut before the SIGKILL and answered
/// with `lambda_thaw::ShutdownCut`: its caller gets an error it can retry, not a killed
/// environment's silence.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_invocation_longer_than_the_budget_cuts_and_answers_it() {
    let event = r#"{"message":"slow","sleep_ms":5000}"#;
    let (record, text) = shut_down_during(event, Some("sleeping 5000 ms")).await;
    let error = record.outcome.error().expect("answered with an error");
    assert_eq!(error.error_type, "lambda_thaw::ShutdownCut", "{error:?}");
    assert_says(
        &text,
        &[
            "1 invocation(s) not answered after 300 ms; what still runs at 360 ms is cut",
            "state closed at shutdown",
            "error_type=lambda_thaw::ShutdownCut",
        ],
        &["no invocation in flight", "could not answer"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_long_deferred_work_says_it_is_still_running() {
    let event = r#"{"message":"answered","defer_ms":5000}"#;
    let (record, text) = shut_down_during(event, Some("deferred started")).await;
    let body = record.outcome.json();
    assert_eq!(body.map(|b| b["message"].clone()), Some("answered".into()));
    assert_says(
        &text,
        &[
            "deferred work of 1 invocation(s) still running after 300 ms; what still runs at 360 ms is cut",
            "state closed at shutdown",
        ],
        &[
            "not answered",
            "could not answer",
            "no invocation in flight",
        ],
    );
}
