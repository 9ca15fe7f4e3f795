//! 12: what the check for a connection that died (or went silent) while the environment
//! was frozen costs a warm invocation that did not idle. One query per invocation, in
//! process, on PostgreSQL: a pool from `lambda_thaw::sqlx::pool_options()` (the check on:
//! the idle test and the kernel's word on closed sockets before each acquire, the bounded
//! ping only after a gap) against the same options with sqlx's `before_acquire` replaced
//! by one that trusts every connection (the check off). Alternating chunks, median of the
//! chunks' means.

use std::time::Instant;

use lambda_thaw_tests::db::PgScratch;
use sqlx::PgPool;

use crate::report::{Row, median};

async fn pool(url: &str, check: bool) -> PgPool {
    let options = lambda_thaw::sqlx::pool_options::<sqlx::Postgres>();
    let options = if check {
        options
    } else {
        options.before_acquire(|_, _| Box::pin(async { Ok(true) }))
    };
    lambda_thaw::sqlx::connect_with(options, url)
        .await
        .expect("a connection to PostgreSQL")
}

/// Mean microseconds per warm invocation of `chunk` invocations on `pool`.
async fn chunk(pool: &PgPool, chunk: usize) -> f64 {
    let invocation = lambda_thaw::testing::Invocation::new();
    let started = Instant::now();
    for _ in 0..chunk {
        let _ = invocation
            .run(async {
                let _: (i32,) = sqlx::query_as("SELECT 1").fetch_one(pool).await.unwrap();
            })
            .await;
    }
    started.elapsed().as_secs_f64() * 1e6 / chunk as f64
}

/// Section 12: `invocations` warm invocations on each pool.
pub async fn run(admin: &str, invocations: usize) -> Vec<Row> {
    let scratch = PgScratch::create(admin).await;
    let on = pool(&scratch.url, true).await;
    let off = pool(&scratch.url, false).await;
    const CHUNK: usize = 50;
    let (mut with_check, mut without) = (Vec::new(), Vec::new());
    // Warm both, then alternate so drift on a shared machine falls on both alike.
    chunk(&on, CHUNK).await;
    chunk(&off, CHUNK).await;
    for _ in 0..(invocations / CHUNK).max(1) {
        with_check.push(chunk(&on, CHUNK).await);
        without.push(chunk(&off, CHUNK).await);
    }
    on.close().await;
    off.close().await;
    scratch.drop_database().await;
    vec![Row {
        section: "12",
        what: format!(
            "PostgreSQL: one warm query per invocation, the liveness check on vs off, median of {} chunks of {CHUNK}",
            with_check.len()
        ),
        tag: "liveness check".into(),
        subject: median(&mut with_check),
        baseline: median(&mut without),
        unit: "µs",
        subject_name: "check on".into(),
        baseline_name: "check off".into(),
    }]
}
