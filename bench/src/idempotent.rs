//! 11: what exactly-once costs. One warm write of one row, on PostgreSQL straight and
//! through PgBouncer in transaction mode: the handler writing in a transaction of its own
//! (BEGIN, INSERT, COMMIT), against the same write in `lambda_thaw::idempotency`'s
//! transactional mode (the claim and the completion in the same transaction) and in
//! around mode (claim, write, completion, each committed on its own). Latency in process,
//! alternating chunks; round trips counted on the wire.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use lambda_thaw::idempotency::{Idempotency, Key};
use lambda_thaw_tests::db::PgScratch;
use lambda_thaw_tests::pgbouncer::PgBouncer;
use lambda_thaw_tests::round_trips::{RoundTripCounter, per_invocation};
use sqlx::{PgPool, Postgres};

use crate::report::{Row, median};

/// The three ways to write, on one pool.
struct Arms {
    pool: PgPool,
    store: Idempotency<Postgres>,
    /// Each set of arms writes ids of its own into the one table.
    prefix: &'static str,
    next: AtomicU64,
}

impl Arms {
    async fn new(pool: PgPool, prefix: &'static str) -> Self {
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_orders (id TEXT PRIMARY KEY)")
            .execute(&pool)
            .await
            .expect("the benchmark's table");
        let store = Idempotency::new(pool.clone()).expect("a PostgreSQL store");
        store.create_table().await.expect("the idempotency table");
        Self {
            pool,
            store,
            prefix,
            next: AtomicU64::new(0),
        }
    }

    fn id(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The write in a transaction of its own. Plain SQL, as the store's: one round trip a
    /// statement through PgBouncer too.
    async fn own_transaction(&self) {
        let mut tx = self.pool.begin().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(insert(&self.id())))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn transactional(&self) {
        let id = self.id();
        self.store
            .transactional(&Key::new(&id, &id), async |tx| {
                sqlx::raw_sql(sqlx::AssertSqlSafe(insert(&id)))
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
            .await
            .unwrap();
    }

    async fn around(&self) {
        let id = self.id();
        self.store
            .around(&Key::new(&id, &id), async || {
                sqlx::raw_sql(sqlx::AssertSqlSafe(insert(&id)))
                    .execute(&self.pool)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
            .await
            .unwrap();
    }

    /// Median ms of each arm over `writes` writes, in alternating chunks of 50.
    async fn latencies(&self, writes: usize) -> [f64; 3] {
        let mut samples = [Vec::new(), Vec::new(), Vec::new()];
        let chunk = 50.min(writes).max(1);
        for _ in 0..writes.div_ceil(chunk) {
            for (arm, samples) in samples.iter_mut().enumerate() {
                for _ in 0..chunk {
                    let started = Instant::now();
                    match arm {
                        0 => self.own_transaction().await,
                        1 => self.transactional().await,
                        _ => self.around().await,
                    }
                    samples.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        samples.map(|mut s| median(&mut s))
    }
}

fn insert(id: &str) -> String {
    format!("INSERT INTO bench_orders (id) VALUES ('{id}')")
}

/// Section 11 on PostgreSQL at `admin`: latency straight and through PgBouncer (skipped
/// without it), round trips straight.
pub async fn run(admin: &str, writes: usize) -> Vec<Row> {
    let scratch = PgScratch::create(admin).await;
    let mut rows = Vec::new();
    let direct = Arms::new(
        lambda_thaw::sqlx::connect(&scratch.url).await.unwrap(),
        "direct",
    )
    .await;
    let bouncer = PgBouncer::start(&scratch.url, 5);
    let through = match &bouncer {
        Some(bouncer) => {
            let user = admin
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .map_or("root", |(user, _)| user.split(':').next().unwrap_or(user));
            let url = bouncer.url(user, &scratch.name);
            let pool = lambda_thaw::sqlx::proxy::ProxyPool::<Postgres>::connect(&url)
                .await
                .unwrap()
                .pool()
                .clone();
            Some(Arms::new(pool, "bouncer").await)
        }
        None => None,
    };
    for (arms, via) in [
        (Some(&direct), "straight"),
        (through.as_ref(), "through PgBouncer"),
    ] {
        let Some(arms) = arms else { continue };
        let [own, transactional, around] = arms.latencies(writes).await;
        for (mode, value) in [
            ("transactional mode", transactional),
            ("around mode", around),
        ] {
            rows.push(Row {
                section: "11",
                what: format!(
                    "PostgreSQL {via}: one warm write, {mode} vs the write in a transaction of its own, median of {writes}"
                ),
                tag: format!("{} {via}", mode.split(' ').next().unwrap_or(mode)),
                subject: value,
                baseline: own,
                unit: "ms",
                subject_name: mode.to_owned(),
                baseline_name: "own transaction".into(),
            });
        }
    }
    // Round trips, on the wire between the pool and PostgreSQL.
    let host_port = scratch
        .url
        .split_once('@')
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .0;
    let counter = RoundTripCounter::start(host_port.to_string()).await;
    let counted = Arms::new(
        lambda_thaw::sqlx::connect(&scratch.url.replace(host_port, &counter.addr().to_string()))
            .await
            .unwrap(),
        "counted",
    )
    .await;
    let own = per_invocation(&counter, || counted.own_transaction()).await;
    let transactional = per_invocation(&counter, || counted.transactional()).await;
    let around = per_invocation(&counter, || counted.around()).await;
    for (mode, value) in [
        ("transactional mode", transactional),
        ("around mode", around),
    ] {
        rows.push(Row {
            section: "11",
            what: format!(
                "PostgreSQL: round trips of one warm write, {mode} vs the write in a transaction of its own"
            ),
            tag: format!("{} round trips", mode.split(' ').next().unwrap_or(mode)),
            subject: value,
            baseline: own,
            unit: "round trips",
            subject_name: mode.to_owned(),
            baseline_name: "own transaction".into(),
        });
    }
    for arms in [Some(direct), through, Some(counted)].into_iter().flatten() {
        arms.pool.close().await;
    }
    drop(bouncer);
    scratch.drop_database().await;
    rows
}
