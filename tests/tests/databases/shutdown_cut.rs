//! SIGTERM while a write runs longer than Lambda's shutdown budget: the invocation is cut
//! before the SIGKILL — answered with `lambda_thaw::ShutdownCut`, its transaction rolled
//! back — so the shutdown hook closes the pool's every session cleanly instead of leaving
//! the one the write held to the kill. Through the emulator, fixture `src/bin/thaw_db.rs`.

use std::time::Duration;

use lambda_thaw_emulator::Environment;
use lambda_thaw_tests::db::Scratch;

use crate::lifecycle::{rows_with_key, thaw_db};

async fn sigterm_cuts_a_write_that_would_outlive_the_budget(mut scratch: Scratch) {
    let env = Environment::new(thaw_db(scratch.url()));
    env.invoke(r#"{"select":true}"#).await;
    let invocation = env.invoke(r#"{"insert":"cut","sleep_ms":5000}"#);
    let shutdown = async {
        env.logs()
            .wait_for("inserting cut", Duration::from_secs(5))
            .await
            .unwrap();
        env.shutdown().await.unwrap()
    };
    let (record, report) = tokio::join!(invocation, shutdown);
    let error = record.outcome.error().expect("answered with an error");
    assert_eq!(error.error_type, "lambda_thaw::ShutdownCut", "{error:?}");
    assert!(!report.killed_after_grace, "{report:?}");
    // Counted before the row is read: the test's own reading connection is not the
    // function's.
    assert_eq!(
        scratch.connections_lost().await,
        0,
        "every session ended with a goodbye\n{}",
        env.logs().text()
    );
    assert_eq!(rows_with_key(&mut scratch, "cut").await, 0, "rolled back");
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_sigterm_cuts_a_write_that_would_outlive_the_budget() {
    if let Some(scratch) = Scratch::postgres().await {
        sigterm_cuts_a_write_that_would_outlive_the_budget(scratch).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_sigterm_cuts_a_write_that_would_outlive_the_budget() {
    if let Some(scratch) = Scratch::mariadb().await {
        sigterm_cuts_a_write_that_would_outlive_the_budget(scratch).await;
    }
}
