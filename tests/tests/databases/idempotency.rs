//! Exactly one effect per event on the real servers: the scenarios of
//! `lambda_thaw_tests::idempotency` on PostgreSQL, on PostgreSQL through PgBouncer in
//! transaction mode (the store on a proxy-mode pool), and on MariaDB.

use lambda_thaw_emulator::FunctionConfig;
use lambda_thaw_tests::db::{MariaScratch, PgScratch, admin_url};
use lambda_thaw_tests::idempotency::{
    a_duplicate_waits_no_longer_than_its_deadline, around_mode_claim_ends_at_the_deadline,
    one_order_delivered_twenty_times_at_once,
    orders_delivered_at_least_once_are_written_exactly_once,
    orders_through_sqs_are_written_exactly_once,
};
use lambda_thaw_tests::pgbouncer::PgBouncer;

fn function(url: &str, mode: &str, pool: &str) -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-idempotent"))
        .env("DATABASE_URL", url)
        .env("FIXTURE_MODE", mode)
        .env("FIXTURE_POOL", pool)
        .env("RUST_LOG", "warn")
}

async fn counter(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// Where a scenario runs.
#[derive(Clone, Copy)]
enum Server {
    Postgres,
    /// PostgreSQL through a PgBouncer of the test's own, in transaction mode, the store on
    /// a proxy-mode pool.
    PgBouncer,
    MariaDb,
    /// PostgreSQL, the store on sqlx's `Any` (one build for every database).
    PostgresAny,
    /// MariaDB, the store on sqlx's `Any`.
    MariaDbAny,
}

/// Runs `scenario` with the fixture in `mode` on a scratch database of `server` (and a
/// pool on that database, straight to the server, to count rows), then drops it.
async fn on(
    server: Server,
    mode: &str,
    scenario: impl AsyncFnOnce(FunctionConfig, &sqlx::AnyPool),
) {
    let var = match server {
        Server::MariaDb | Server::MariaDbAny => "LAMBDA_THAW_TEST_MYSQL",
        Server::Postgres | Server::PgBouncer | Server::PostgresAny => "LAMBDA_THAW_TEST_POSTGRES",
    };
    let pool = match server {
        Server::PostgresAny | Server::MariaDbAny => "any",
        _ => "plain",
    };
    let Some(admin) = admin_url(var) else {
        return;
    };
    match server {
        Server::MariaDb | Server::MariaDbAny => {
            let mut scratch = MariaScratch::create(&admin).await;
            let counter = counter(&scratch.url).await;
            scenario(function(&scratch.url, mode, pool), &counter).await;
            counter.close().await;
            scratch.wait_until_idle().await;
            scratch.drop_database().await;
        }
        Server::Postgres | Server::PgBouncer | Server::PostgresAny => {
            let scratch = PgScratch::create(&admin).await;
            let counter = counter(&scratch.url).await;
            let bouncer = match server {
                Server::PgBouncer => match PgBouncer::start(&scratch.url, 5) {
                    Some(bouncer) => Some(bouncer),
                    None => return,
                },
                _ => None,
            };
            let config = match &bouncer {
                Some(bouncer) => {
                    let user = admin
                        .split_once("://")
                        .and_then(|(_, rest)| rest.split_once('@'))
                        .map_or("root", |(user, _)| user.split(':').next().unwrap_or(user));
                    function(&bouncer.url(user, &scratch.name), mode, "proxy")
                }
                None => function(&scratch.url, mode, pool),
            };
            scenario(config, &counter).await;
            counter.close().await;
            drop(bouncer);
            scratch.drop_database().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_one_order_delivered_twenty_times_at_once_is_written_once() {
    on(
        Server::Postgres,
        "transactional",
        one_order_delivered_twenty_times_at_once,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_pgbouncer_one_order_delivered_twenty_times_at_once_is_written_once() {
    on(
        Server::PgBouncer,
        "transactional",
        one_order_delivered_twenty_times_at_once,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_one_order_delivered_twenty_times_at_once_is_written_once() {
    on(
        Server::MariaDb,
        "transactional",
        one_order_delivered_twenty_times_at_once,
    )
    .await;
}

/// 1,000 orders, 10 % delivered twice, 5 % of answers lost, on each server.
async fn thousand_orders(config: FunctionConfig, counter: &sqlx::AnyPool) {
    orders_delivered_at_least_once_are_written_exactly_once(config, counter, 1000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_thousand_orders_delivered_at_least_once_are_written_exactly_once() {
    on(Server::Postgres, "transactional", thousand_orders).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_pgbouncer_a_thousand_orders_delivered_at_least_once_are_written_exactly_once()
 {
    on(Server::PgBouncer, "transactional", thousand_orders).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_a_thousand_orders_delivered_at_least_once_are_written_exactly_once() {
    on(Server::MariaDb, "transactional", thousand_orders).await;
}

/// 1,000 orders through the emulator's SQS source, on each server.
async fn thousand_orders_through_sqs(config: FunctionConfig, counter: &sqlx::AnyPool) {
    orders_through_sqs_are_written_exactly_once(config, counter, 1000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_thousand_orders_through_sqs_are_written_exactly_once() {
    on(
        Server::Postgres,
        "transactional",
        thousand_orders_through_sqs,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_pgbouncer_a_thousand_orders_through_sqs_are_written_exactly_once() {
    on(
        Server::PgBouncer,
        "transactional",
        thousand_orders_through_sqs,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_a_thousand_orders_through_sqs_are_written_exactly_once() {
    on(
        Server::MariaDb,
        "transactional",
        thousand_orders_through_sqs,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_duplicate_waits_no_longer_than_its_deadline() {
    on(
        Server::Postgres,
        "transactional",
        a_duplicate_waits_no_longer_than_its_deadline,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_pgbouncer_a_duplicate_waits_no_longer_than_its_deadline() {
    on(
        Server::PgBouncer,
        "transactional",
        a_duplicate_waits_no_longer_than_its_deadline,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_a_duplicate_waits_no_longer_than_its_deadline() {
    on(
        Server::MariaDb,
        "transactional",
        a_duplicate_waits_no_longer_than_its_deadline,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_around_mode_claim_ends_at_the_deadline_and_the_retry_completes() {
    on(
        Server::Postgres,
        "around",
        around_mode_claim_ends_at_the_deadline,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_around_mode_claim_ends_at_the_deadline_and_the_retry_completes() {
    on(
        Server::MariaDb,
        "around",
        around_mode_claim_ends_at_the_deadline,
    )
    .await;
}

/// Round trips on the wire for one warm write, PostgreSQL: the handler writing in a
/// transaction of its own (BEGIN, INSERT, COMMIT) against the same write in transactional
/// mode (the claim and the completion added) and in around mode (claim, write, completion,
/// each on its own). The target: transactional mode at most 2 more.
#[tokio::test(flavor = "multi_thread")]
async fn transactional_mode_costs_at_most_two_round_trips_more_than_a_transaction_of_ones_own() {
    use lambda_thaw::idempotency::{Idempotency, Key};
    use lambda_thaw_tests::round_trips::{RoundTripCounter, per_invocation};
    use std::sync::atomic::{AtomicU64, Ordering};

    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    // Alone: the count must not take in pings set off by a neighbour test's sockets.
    if !lambda_thaw_tests::round_trips::in_a_process_of_its_own(
        "idempotency::transactional_mode_costs_at_most_two_round_trips_more_than_a_transaction_of_ones_own",
    ) {
        return;
    }
    let scratch = PgScratch::create(&admin).await;
    let host_port = scratch
        .url
        .split_once('@')
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .0;
    let counter = RoundTripCounter::start(host_port.to_string()).await;
    let url = scratch.url.replace(host_port, &counter.addr().to_string());
    let pool: sqlx::PgPool = lambda_thaw::sqlx::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE orders (id TEXT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let store = Idempotency::new(pool.clone()).unwrap();
    store.create_table().await.unwrap();
    let next = AtomicU64::new(0);
    let id = || format!("o-{}", next.fetch_add(1, Ordering::Relaxed));

    let own = per_invocation(&counter, || async {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO orders (id) VALUES ($1)")
            .bind(id())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    })
    .await;
    let transactional = per_invocation(&counter, || async {
        let order = id();
        let key = Key::new(&order, &order);
        store
            .transactional(&key, async |tx| {
                sqlx::query("INSERT INTO orders (id) VALUES ($1)")
                    .bind(&order)
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
            .await
            .unwrap();
    })
    .await;
    let around = per_invocation(&counter, || async {
        let order = id();
        let key = Key::new(&order, &order);
        store
            .around(&key, async || {
                sqlx::query("INSERT INTO orders (id) VALUES ($1)")
                    .bind(&order)
                    .execute(&pool)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
            .await
            .unwrap();
    })
    .await;
    eprintln!(
        "round trips per warm write: own transaction {own}, transactional mode {transactional}, around mode {around}"
    );
    assert!(
        transactional - own <= 2.0,
        "transactional mode {transactional} vs {own} in a transaction of its own"
    );
    assert!(
        transactional > own,
        "the claim and the completion are counted"
    );
    pool.close().await;
    scratch.drop_database().await;
}

/// One build for every database: the store on sqlx's `Any`, its dialect from the URL.
async fn two_hundred_orders(config: FunctionConfig, counter: &sqlx::AnyPool) {
    orders_delivered_at_least_once_are_written_exactly_once(config, counter, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_on_any_one_order_delivered_twenty_times_at_once_is_written_once() {
    on(
        Server::PostgresAny,
        "transactional",
        one_order_delivered_twenty_times_at_once,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_on_any_one_order_delivered_twenty_times_at_once_is_written_once() {
    on(
        Server::MariaDbAny,
        "transactional",
        one_order_delivered_twenty_times_at_once,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_on_any_orders_delivered_at_least_once_are_written_exactly_once() {
    on(Server::PostgresAny, "transactional", two_hundred_orders).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_on_any_orders_delivered_at_least_once_are_written_exactly_once() {
    on(Server::MariaDbAny, "transactional", two_hundred_orders).await;
}
