//! `lambda_thaw::sqlx::create_schema` on real PostgreSQL: many environments' inits running
//! `CREATE TABLE IF NOT EXISTS` at the same instant, as on a fresh deploy under load.
//! The control arm runs the same statement plainly and shows the race it guards against.

use std::sync::Arc;

use lambda_thaw_tests::db::{PgScratch, admin_url};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

const INITS: usize = 30;
const ROUNDS: usize = 10;

/// `INITS` pools (one per "environment"), each with its connection already open, released
/// together on a barrier to run `create` for a table new to this round; how many failed,
/// and the first error.
async fn race<F, Fut>(pools: &[PgPool], table: &str, create: F) -> (usize, Option<String>)
where
    F: Fn(PgPool, String) -> Fut,
    Fut: Future<Output = Result<(), sqlx::Error>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(pools.len()));
    let mut inits = tokio::task::JoinSet::new();
    for pool in pools {
        let statement = format!("CREATE TABLE IF NOT EXISTS {table} (id VARCHAR(64) PRIMARY KEY)");
        let run = create(pool.clone(), statement);
        let barrier = barrier.clone();
        inits.spawn(async move {
            barrier.wait().await;
            run.await
        });
    }
    let errors: Vec<String> = inits
        .join_all()
        .await
        .into_iter()
        .filter_map(|result| result.err().map(|e| e.to_string()))
        .collect();
    (errors.len(), errors.into_iter().next())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inits_create_the_schema_without_failing_where_plain_ddl_races() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let scratch = PgScratch::create(&admin).await;
    let mut pools = Vec::new();
    for _ in 0..INITS {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect(&scratch.url)
            .await
            .unwrap();
        pools.push(pool);
    }

    let mut plain_failed = 0;
    let mut plain_error = None;
    let mut guarded_failed = 0;
    let mut guarded_error = None;
    for round in 0..ROUNDS {
        let (failed, error) = race(
            &pools,
            &format!("plain_{round}"),
            |pool, statement| async move {
                sqlx::raw_sql(AssertSqlSafe(statement))
                    .execute(&pool)
                    .await
                    .map(drop)
            },
        )
        .await;
        plain_failed += failed;
        plain_error = plain_error.or(error);
        let (failed, error) = race(
            &pools,
            &format!("guarded_{round}"),
            |pool, statement| async move {
                lambda_thaw::sqlx::create_schema(&pool, AssertSqlSafe(statement)).await
            },
        )
        .await;
        guarded_failed += failed;
        guarded_error = guarded_error.or(error);
    }
    eprintln!(
        "{ROUNDS} rounds of {INITS} inits at once: plain CREATE TABLE IF NOT EXISTS failed {plain_failed} times ({plain_error:?}); create_schema failed {guarded_failed} times"
    );
    assert_eq!(guarded_failed, 0, "{guarded_error:?}");
    // The control arm: without the retry the race is real (it is timing-dependent, so it
    // is required over all rounds, not in each).
    assert!(plain_failed > 0, "the plain statements never raced");

    for pool in pools {
        pool.close().await;
    }
    scratch.drop_database().await;
}

/// The SQLSTATE of what `create_schema` returned, waited for at most 10 s: a retry loop
/// that never ends is a failure, not a hang.
async fn refusal(pool: &PgPool, statement: &'static str) -> Option<String> {
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        lambda_thaw::sqlx::create_schema(pool, statement),
    )
    .await
    .unwrap_or_else(|_| panic!("`{statement}` was retried for 10 s"));
    let error = outcome.expect_err(statement);
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| code.into_owned())
}

/// An error that is not a lost race comes back as it is, after one attempt; a statement
/// that keeps losing (the table exists and the statement does not say `IF NOT EXISTS`) is
/// run five times, then its error comes back — never retried for ever. The attempts are
/// counted by the server, as the transactions it rolled back.
#[tokio::test(flavor = "multi_thread")]
async fn other_errors_come_back_at_once_and_retries_end() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let mut scratch = PgScratch::create(&admin).await;
    let pool = PgPool::connect(&scratch.url).await.unwrap();
    let missing = "CREATE TABLE lt_child (parent INTEGER REFERENCES lt_no_such_table (id))";
    assert_eq!(refusal(&pool, missing).await.as_deref(), Some("42P01"));
    lambda_thaw::sqlx::create_schema(&pool, "CREATE TABLE lt_twice (id INTEGER)")
        .await
        .unwrap();
    let again = "CREATE TABLE lt_twice (id INTEGER)";
    assert_eq!(refusal(&pool, again).await.as_deref(), Some("42P07"));
    pool.close().await;
    // Read once every session has ended, so that its statistics are in.
    scratch.wait_until_idle().await;
    assert_eq!(
        scratch.stat("xact_rollback").await,
        1 + 5,
        "one attempt for the missing table, five for the table that exists"
    );
    scratch.drop_database().await;
}
