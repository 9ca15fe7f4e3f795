//! Exactly one effect per event on the real servers: the scenarios of
//! `lambda_thaw_tests::idempotency` on PostgreSQL, on PostgreSQL through PgBouncer in
//! transaction mode (the store on a proxy-mode pool), and on MariaDB.

use lambda_thaw_emulator::FunctionConfig;
use lambda_thaw_tests::db::{MariaScratch, PgScratch, admin_url};
use lambda_thaw_tests::idempotency::{
    around_mode_claim_ends_at_the_deadline, one_order_delivered_twenty_times_at_once,
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

#[tokio::test(flavor = "multi_thread")]
async fn postgres_one_order_delivered_twenty_times_at_once_is_written_once() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let scratch = PgScratch::create(&admin).await;
    let counter = counter(&scratch.url).await;
    one_order_delivered_twenty_times_at_once(
        function(&scratch.url, "transactional", "plain"),
        &counter,
    )
    .await;
    counter.close().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_through_pgbouncer_one_order_delivered_twenty_times_at_once_is_written_once() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let scratch = PgScratch::create(&admin).await;
    let Some(bouncer) = PgBouncer::start(&scratch.url, 5) else {
        return;
    };
    let user = admin
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map_or("root", |(user, _)| user.split(':').next().unwrap_or(user));
    let through = bouncer.url(user, &scratch.name);
    let counter = counter(&scratch.url).await;
    one_order_delivered_twenty_times_at_once(
        function(&through, "transactional", "proxy"),
        &counter,
    )
    .await;
    counter.close().await;
    drop(bouncer);
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_one_order_delivered_twenty_times_at_once_is_written_once() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_MYSQL") else {
        return;
    };
    let mut scratch = MariaScratch::create(&admin).await;
    let counter = counter(&scratch.url).await;
    one_order_delivered_twenty_times_at_once(
        function(&scratch.url, "transactional", "plain"),
        &counter,
    )
    .await;
    counter.close().await;
    scratch.wait_until_idle().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_around_mode_claim_ends_at_the_deadline_and_the_retry_completes() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let scratch = PgScratch::create(&admin).await;
    let counter = counter(&scratch.url).await;
    around_mode_claim_ends_at_the_deadline(function(&scratch.url, "around", "plain"), &counter)
        .await;
    counter.close().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_around_mode_claim_ends_at_the_deadline_and_the_retry_completes() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_MYSQL") else {
        return;
    };
    let mut scratch = MariaScratch::create(&admin).await;
    let counter = counter(&scratch.url).await;
    around_mode_claim_ends_at_the_deadline(function(&scratch.url, "around", "plain"), &counter)
        .await;
    counter.close().await;
    scratch.wait_until_idle().await;
    scratch.drop_database().await;
}
