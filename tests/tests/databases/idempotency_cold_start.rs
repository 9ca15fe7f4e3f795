//! What the idempotency store's `create_table` does at a cold start on PostgreSQL, where
//! DDL takes locks and needs the table's owner: a role that only writes the table starts,
//! and a cold start while another invocation holds a claim is not held up by it.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord};
use lambda_thaw_tests::db::{PgScratch, admin_url, unique};
use sqlx::AssertSqlSafe;

fn function(url: &str) -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-idempotent"))
        .env("DATABASE_URL", url)
        .env("FIXTURE_MODE", "transactional")
        .env("FIXTURE_POOL", "plain")
        .env("RUST_LOG", "warn")
}

fn answered_in(record: &InvocationRecord) -> Duration {
    record
        .responded_at
        .and_then(|at| at.duration_since(record.invoked_at).ok())
        .unwrap_or(Duration::MAX)
}

/// The tables exist (an owner's first cold start made them); a role that may write them
/// but owns none — and may not create an index on them — cold-starts and writes an order.
/// Before `create_table` read the catalogue first, its `CREATE INDEX IF NOT EXISTS` failed
/// init with "must be owner of table lambda_thaw_idempotency".
#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_role_that_does_not_own_the_store_s_table_starts() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let mut scratch = PgScratch::create(&admin).await;
    let owner = Environment::new(function(&scratch.url));
    let first = owner
        .invoke(r#"{"order_id": "by-owner", "total": 1}"#)
        .await;
    assert!(first.outcome.json().is_some(), "{:?}", first.outcome);
    owner.shutdown().await;

    let role = unique("lt_app");
    let mut on_scratch = <sqlx::PgConnection as sqlx::Connection>::connect(&scratch.url)
        .await
        .unwrap();
    // The name is generated above, never taken from input. CREATE on the schema only so
    // that the fixture's own `CREATE TABLE IF NOT EXISTS lt_orders` finds its table.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN; GRANT CREATE, USAGE ON SCHEMA public TO {role}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON lt_orders, lt_calls, lambda_thaw_idempotency TO {role}"
    )))
    .execute(&mut on_scratch)
    .await
    .unwrap();
    let (base, database) = scratch.url.rsplit_once('/').unwrap();
    let host = base.rsplit_once('@').unwrap().1;
    let as_app = format!("postgres://{role}@{host}/{database}");
    let app = Environment::new(function(&as_app));
    let record = app.invoke(r#"{"order_id": "by-app", "total": 2}"#).await;
    let outcome = record.outcome.clone();
    app.shutdown().await;
    drop(on_scratch);
    scratch.wait_until_idle().await;
    let role_drop = format!("DROP ROLE {role}");
    scratch.drop_database_with(&role_drop).await;
    assert!(
        outcome.json().is_some(),
        "{outcome:?}\n{}",
        app.logs().text()
    );
}

/// One environment holds a claim (its order's transaction sleeps 4 s); a new environment
/// cold-starts meanwhile and writes another order. Its init reads the catalogue and takes
/// no lock, so it is not queued behind the claim, and its order is not refused as in
/// progress.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_cold_start_while_a_claim_is_held_is_not_blocked() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let scratch = PgScratch::create(&admin).await;
    let holder = Environment::new(function(&scratch.url).timeout(Duration::from_secs(8)));
    let _ = holder.invoke(r#"{"order_id": "warm", "total": 1}"#).await;
    let held = async {
        holder
            .invoke(r#"{"order_id": "slow", "total": 3, "sleep_ms": 4000}"#)
            .await
    };
    let newcomer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fresh = Environment::new(function(&scratch.url).timeout(Duration::from_secs(3)));
        let record = fresh.invoke(r#"{"order_id": "new", "total": 4}"#).await;
        fresh.shutdown().await;
        record
    };
    let (held, new) = tokio::join!(held, newcomer);
    assert!(held.outcome.json().is_some(), "{:?}", held.outcome);
    assert!(new.outcome.json().is_some(), "{:?}", new.outcome);
    assert!(
        new.cold_start.is_some(),
        "the newcomer's invocation was a cold start"
    );
    assert!(
        answered_in(&new) < Duration::from_millis(2500),
        "the cold start waited {:?}, behind the claim",
        answered_in(&new)
    );
    holder.shutdown().await;
    scratch.drop_database().await;
}
