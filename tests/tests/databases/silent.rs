//! Paths to the database that fail without a word: a server that takes the connection and
//! never answers (init), and a path that forgets the function's connection while the
//! environment is frozen (the next invocation). Both through the emulator, with the
//! fixture `src/bin/thaw_db.rs`.

use std::time::{Duration, Instant};

use lambda_thaw_emulator::{Environment, Outcome};
use lambda_thaw_tests::db::Scratch;
use lambda_thaw_tests::relay::{SilentListener, SilentRelay};

use crate::lifecycle::{host_port, session, thaw_db};

/// A listener that accepts and never answers: eager init fails with an error that names
/// the host, port and database and says what to check — within the pool's acquire timeout
/// (5 s), not as Lambda's bare init timeout (10 s).
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_never_answers_fails_init_within_the_bound_naming_it() {
    for scheme in ["postgres", "mysql"] {
        let silent = SilentListener::start().await;
        let port = silent.addr().port();
        let url = format!("{scheme}://app:s3cret-pw@127.0.0.1:{port}/orders");
        let env = Environment::new(thaw_db(&url));
        let started = Instant::now();
        let record = env.invoke(r#"{"select":true}"#).await;
        let took = started.elapsed();
        let error = match &record.outcome {
            Outcome::InitFailed(error) => error.clone(),
            other => panic!("{scheme}: expected an init failure, got {other:?}"),
        };
        let message = &error.error_message;
        assert!(
            message.contains(&format!("host 127.0.0.1, port {port}, database orders")),
            "{scheme}: {message}"
        );
        assert!(message.contains("did not answer"), "{scheme}: {message}");
        assert!(!message.contains("s3cret-pw"), "{scheme}: {message}");
        println!("{scheme}: init failed after {took:?}: {message}");
        assert!(
            took < Duration::from_secs(8),
            "{scheme}: init failed after {took:?}; the bound is 5 s"
        );
    }
}

/// Five times: an invocation, then the relay between the function and the server forgets
/// the connection while the environment is frozen. The next invocation answers well inside
/// its 3 s deadline, on a new connection (the relay counts it, the server names another
/// session).
async fn a_path_that_went_silent_while_frozen_costs_a_reconnect(scratch: Scratch) {
    let upstream = host_port(scratch.url());
    let relay = SilentRelay::start(upstream.clone()).await;
    let url = scratch.url().replace(&upstream, &relay.addr().to_string());
    let env = Environment::new(thaw_db(&url).timeout(Duration::from_secs(3)));
    let mut last = session(&env.invoke(r#"{"select":true}"#).await);
    let connections = relay.accepted();
    for round in 1..=5 {
        relay.forget_connections();
        // A gap long enough to be a freeze; the environment is frozen through it.
        tokio::time::sleep(lambda_thaw::sqlx::FREEZE_CHECK_AFTER + Duration::from_millis(200))
            .await;
        let record = env.invoke(r#"{"select":true}"#).await;
        let now = session(&record);
        let answered_in = record
            .responded_at
            .unwrap()
            .duration_since(record.invoked_at)
            .unwrap();
        println!(
            "{}: round {round}: answered in {answered_in:?} on a new session",
            scratch.server()
        );
        assert_ne!(
            now, last,
            "round {round}: served on the forgotten connection"
        );
        assert!(
            answered_in < Duration::from_millis(1500),
            "round {round}: answered after {answered_in:?} of its 3 s\n{}",
            env.logs().text()
        );
        assert_eq!(
            relay.accepted(),
            connections + round,
            "round {round}: one new connection per forgotten one"
        );
        last = now;
    }
    env.shutdown().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_path_that_went_silent_while_frozen_costs_a_reconnect() {
    if let Some(scratch) = Scratch::postgres().await {
        a_path_that_went_silent_while_frozen_costs_a_reconnect(scratch).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_a_path_that_went_silent_while_frozen_costs_a_reconnect() {
    if let Some(scratch) = Scratch::mariadb().await {
        a_path_that_went_silent_while_frozen_costs_a_reconnect(scratch).await;
    }
}
