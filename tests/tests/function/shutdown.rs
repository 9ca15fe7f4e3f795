//! What the shutdown sequence tells the logs, one case each: nothing in flight, an
//! invocation that cannot answer within the drain limit nor within Lambda's budget, and
//! deferred work still running when the drain limit is up. The fixture is the builder's
//! (`src/bin/thaw_builder.rs`: its state is closed at shutdown, so Lambda sends SIGTERM).
//! The margins are seconds against limits of a few hundred milliseconds, so a loaded
//! machine cannot turn one case into another.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig};

fn builder() -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-builder"))
        .env("RUST_LOG", "info")
        .timeout(Duration::from_secs(10))
}

/// Every line the process printed, once it has exited and its output is read to the end.
async fn all_output(env: &Environment) -> String {
    assert!(
        env.logs().drained(Duration::from_secs(5)).await,
        "output still open"
    );
    env.logs().text()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_nothing_in_flight_says_so_and_nothing_else() {
    let env = Environment::new(builder());
    let record = env.invoke(r#"{"message":"hi"}"#).await;
    assert!(record.outcome.is_response(), "{:?}", record.outcome);
    let report = env.shutdown().await.unwrap();
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "{report:?}"
    );
    let text = all_output(&env).await;
    assert!(
        text.contains("no invocation in flight; shutting down"),
        "{text}"
    );
    assert!(text.contains("state closed at shutdown"), "{text}");
    for unexpected in ["not answered", "still running", "could not answer"] {
        assert!(!text.contains(unexpected), "`{unexpected}` in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_invocation_longer_than_the_budget_says_so_twice() {
    let env = Environment::new(builder());
    env.start().await.unwrap();
    let invocation = env.invoke(r#"{"message":"slow","sleep_ms":5000}"#);
    let shutdown = async {
        env.logs()
            .wait_for("sleeping 5000 ms", Duration::from_secs(5))
            .await
            .expect("the invocation started");
        env.shutdown().await.unwrap()
    };
    let (record, report) = tokio::join!(invocation, shutdown);
    assert!(!record.outcome.is_response(), "{:?}", record.outcome);
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "{report:?}"
    );
    let text = all_output(&env).await;
    assert!(
        text.contains(
            "1 invocation(s) not answered after 300 ms; running the shutdown hook meanwhile"
        ),
        "{text}"
    );
    assert!(text.contains("state closed at shutdown"), "{text}");
    assert!(
        text.contains("1 invocation(s) could not answer within Lambda's 500 ms shutdown budget"),
        "{text}"
    );
    assert!(!text.contains("no invocation in flight"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_long_deferred_work_says_it_is_still_running() {
    let env = Environment::new(builder());
    env.start().await.unwrap();
    let invocation = env.invoke(r#"{"message":"answered","defer_ms":5000}"#);
    let shutdown = async {
        env.logs()
            .wait_for("deferred started", Duration::from_secs(5))
            .await
            .expect("the deferred work started");
        env.shutdown().await.unwrap()
    };
    let (record, report) = tokio::join!(invocation, shutdown);
    assert_eq!(
        record.outcome.json().unwrap()["message"],
        "answered",
        "{:?}",
        record.outcome
    );
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "{report:?}"
    );
    let text = all_output(&env).await;
    assert!(
        text.contains(
            "deferred work of 1 invocation(s) still running after 300 ms; shutting down anyway"
        ),
        "{text}"
    );
    assert!(text.contains("state closed at shutdown"), "{text}");
    for unexpected in [
        "not answered",
        "could not answer",
        "no invocation in flight",
    ] {
        assert!(!text.contains(unexpected), "`{unexpected}` in:\n{text}");
    }
}
