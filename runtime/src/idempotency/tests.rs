//! Both modes on SQLite (a file, so several connections share it): what runs, what is
//! stored, what a duplicate gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Sqlite, SqlitePool};

use super::*;

async fn store() -> (Idempotency<Sqlite>, tempfile_path::Path) {
    let path = tempfile_path::Path::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path.0)
        .create_if_missing(true);
    let pool = sqlx::pool::PoolOptions::<Sqlite>::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let store = Idempotency::new(pool).unwrap();
    store.create_table().await.unwrap();
    sqlx::raw_sql("CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    (store, path)
}

/// A file of the test's own, removed on drop.
mod tempfile_path {
    pub(super) struct Path(pub(super) std::path::PathBuf);
    impl Path {
        pub(super) fn new() -> Self {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Self(std::env::temp_dir().join(format!(
                "lambda-thaw-idempotency-{}-{n}.db",
                std::process::id()
            )))
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }
}

/// `future`, run inside an invocation whose deadline is `timeout` away (no guard).
async fn in_an_invocation_of<F: std::future::Future>(timeout: Duration, future: F) -> F::Output {
    use crate::lifecycle::context::{Deadline, now_ms};
    let deadline = Deadline(now_ms() + timeout.as_millis() as u64);
    crate::lifecycle::scope::scope(Some(deadline), 0, Duration::ZERO, future).await
}

async fn count(pool: &SqlitePool, query: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(query.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// One order written in the transaction; the response names the run.
async fn order(
    idempotency: &Idempotency<Sqlite>,
    event: &Value,
    runs: &AtomicUsize,
) -> Result<Value, lambda_runtime::Error> {
    let key = Key::from_pointers(event, &["/order_id"])?;
    idempotency
        .transactional(&key, async |tx| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            sqlx::query("INSERT INTO orders (id, total) VALUES (?, ?)")
                .bind(event["order_id"].as_str())
                .bind(event["total"].as_i64())
                .execute(&mut **tx)
                .await?;
            Ok::<_, lambda_runtime::Error>(json!({ "order": event["order_id"], "run": run }))
        })
        .await
}

#[tokio::test]
async fn a_duplicate_gets_the_first_response_and_the_handler_runs_once() {
    let (idempotency, _file) = store().await;
    let pool = idempotency.pool().clone();
    let runs = AtomicUsize::new(0);
    let event = json!({"order_id": "o-1", "total": 10});
    let first = order(&idempotency, &event, &runs).await.unwrap();
    let second = order(&idempotency, &event, &runs).await.unwrap();
    assert_eq!(first, json!({"order": "o-1", "run": 1}));
    assert_eq!(second, first, "the stored response, not a second run");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM lambda_thaw_idempotency WHERE status = 'COMPLETE'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_error_rolls_the_claim_back_with_the_writes_so_the_retry_runs() {
    let (idempotency, _file) = store().await;
    let pool = idempotency.pool().clone();
    let key = Key::new("o-2", &json!({"order_id": "o-2"}));
    let failed: Result<Value, _> = idempotency
        .transactional(&key, async |tx| {
            sqlx::query("INSERT INTO orders (id, total) VALUES ('o-2', 1)")
                .execute(&mut **tx)
                .await?;
            Err::<Value, _>(lambda_runtime::Error::from("payment service down"))
        })
        .await;
    assert_eq!(failed.unwrap_err().to_string(), "payment service down");
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM lambda_thaw_idempotency").await,
        0
    );
    let retried: Value = idempotency
        .transactional(&key, async |tx| {
            sqlx::query("INSERT INTO orders (id, total) VALUES ('o-2', 1)")
                .execute(&mut **tx)
                .await?;
            Ok::<_, sqlx::Error>(json!("written"))
        })
        .await
        .unwrap();
    assert_eq!(retried, json!("written"));
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn a_cancelled_handler_leaves_nothing_and_the_retry_runs() {
    let (idempotency, _file) = store().await;
    let pool = idempotency.pool().clone();
    let key = Key::new("o-3", &json!({}));
    // The deadline guard drops the handler's future: here, a timeout does.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        idempotency.transactional(&key, async |tx| {
            sqlx::query("INSERT INTO orders (id, total) VALUES ('o-3', 1)")
                .execute(&mut **tx)
                .await?;
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, sqlx::Error>(json!("too late"))
        }),
    )
    .await;
    assert!(cancelled.is_err());
    let runs = AtomicUsize::new(0);
    let retried = order(&idempotency, &json!({"order_id": "o-3", "total": 1}), &runs).await;
    // A different payload under the key `Key::new` made: the record is gone, so it runs.
    assert!(retried.is_ok(), "{retried:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_payload_is_refused_and_an_expired_record_runs_again() {
    let (idempotency, _file) = store().await;
    let pool = idempotency.pool().clone();
    let runs = AtomicUsize::new(0);
    order(&idempotency, &json!({"order_id": "o-4", "total": 1}), &runs)
        .await
        .unwrap();
    let mismatch = order(&idempotency, &json!({"order_id": "o-4", "total": 2}), &runs)
        .await
        .unwrap_err();
    assert!(mismatch.is::<IdempotencyPayloadMismatch>(), "{mismatch}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Expired: the key runs again (here it fails on the orders table's own key, which is
    // how the test sees that it ran).
    sqlx::raw_sql("UPDATE lambda_thaw_idempotency SET expires_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    let again = order(&idempotency, &json!({"order_id": "o-4", "total": 1}), &runs).await;
    assert!(again.is_err());
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    idempotency.clean_up(10).await.unwrap();
    assert_eq!(
        count(&pool, "SELECT count(*) FROM lambda_thaw_idempotency").await,
        0
    );
}

#[tokio::test]
async fn concurrent_deliveries_of_one_key_write_once_and_answer_alike() {
    let (idempotency, _file) = store().await;
    let pool = idempotency.pool().clone();
    let idempotency = Arc::new(idempotency);
    let runs = Arc::new(AtomicUsize::new(0));
    let event = json!({"order_id": "o-5", "total": 5});
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (idempotency, runs, event) = (idempotency.clone(), runs.clone(), event.clone());
        deliveries.spawn(async move {
            order(&idempotency, &event, &runs)
                .await
                .map_err(|e| e.to_string())
        });
    }
    let answers: Vec<_> = deliveries.join_all().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{answers:?}");
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1);
    for answer in answers {
        assert_eq!(answer.unwrap(), json!({"order": "o-5", "run": 1}));
    }
}

#[tokio::test]
async fn around_mode_claims_completes_and_gives_up_a_failed_claim() {
    let (idempotency, _file) = store().await;
    let key = Key::new("call-1", &json!({"to": "payments"}));
    let calls = AtomicUsize::new(0);
    let call = async || {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, lambda_runtime::Error>(json!({"paid": true}))
    };
    assert_eq!(
        idempotency.around(&key, call).await.unwrap(),
        json!({"paid": true})
    );
    let call = async || {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, lambda_runtime::Error>(json!({"paid": "twice"}))
    };
    assert_eq!(
        idempotency.around(&key, call).await.unwrap(),
        json!({"paid": true})
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A failed call gives its claim up: the retry runs.
    let other = Key::new("call-2", &json!({}));
    let failing = async || Err::<Value, _>(lambda_runtime::Error::from("refused"));
    assert!(idempotency.around(&other, failing).await.is_err());
    let retry = async || Ok::<_, lambda_runtime::Error>(json!("second try"));
    assert_eq!(
        idempotency.around(&other, retry).await.unwrap(),
        json!("second try")
    );
}

#[tokio::test]
async fn around_mode_refuses_while_a_claim_lasts_and_takes_over_when_it_ended() {
    let (idempotency, _file) = store().await;
    let pool = idempotency.pool().clone();
    let key = Key::new("call-3", &json!({}));
    // A delivery that claimed and died: its claim lasts until its deadline.
    let (now, until, expires) = idempotency.times();
    let mut connection = pool.acquire().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(Dialect::Sqlite.claim(&key, until, expires)))
        .execute(&mut *connection)
        .await
        .unwrap();
    drop(connection);
    assert!(until > now);
    let call = async || Ok::<_, lambda_runtime::Error>(json!("ran"));
    let refused = idempotency.around(&key, call).await.unwrap_err();
    assert!(refused.is::<IdempotencyInProgress>(), "{refused}");
    // Its deadline passed: the next delivery takes the claim over and runs.
    sqlx::raw_sql("UPDATE lambda_thaw_idempotency SET in_progress_until = 0")
        .execute(&pool)
        .await
        .unwrap();
    let call = async || Ok::<_, lambda_runtime::Error>(json!("ran"));
    assert_eq!(idempotency.around(&key, call).await.unwrap(), json!("ran"));
}

#[tokio::test]
async fn any_picks_the_dialect_from_the_url_and_a_duplicate_gets_the_first_response() {
    sqlx::any::install_default_drivers();
    let path = tempfile_path::Path::new();
    let url = format!("sqlite://{}?mode=rwc", path.0.display());
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    let store = Idempotency::new(pool).unwrap();
    assert_eq!(store.dialect, Dialect::Sqlite);
    store.create_table().await.unwrap();
    sqlx::raw_sql("CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    let key = Key::new("o-any", "{}");
    for _ in 0..2 {
        let answer: Value = store
            .transactional(&key, async |tx| {
                sqlx::raw_sql("INSERT INTO orders (id, total) VALUES ('o-any', 5)")
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, lambda_runtime::Error>(json!({"id": "o-any"}))
            })
            .await
            .unwrap();
        assert_eq!(answer, json!({"id": "o-any"}));
    }
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "the duplicate got the stored response");
    store.pool().close().await;
}

#[tokio::test]
async fn any_on_a_database_the_store_does_not_speak_is_refused_naming_the_fix() {
    sqlx::any::install_default_drivers();
    let options = <sqlx::any::AnyConnectOptions as std::str::FromStr>::from_str(
        "mssql://sa@localhost/orders",
    );
    // sqlx builds Any's options only for the drivers compiled in; name one it cannot be.
    if let Ok(options) = options {
        let pool = sqlx::any::AnyPoolOptions::new().connect_lazy_with(options);
        let error = Idempotency::new(pool).unwrap_err().to_string();
        assert!(error.contains("URL scheme `mssql`"), "{error}");
    }
}

/// A duplicate waits for a claim only until shortly before the guard fires, at the
/// function's own margin: with a 2 s margin on a deadline 4 s away, under 2 s.
#[tokio::test]
async fn the_lock_wait_ends_before_the_guard_at_the_function_s_margin() {
    use crate::lifecycle::context::{Deadline, now_ms};
    use crate::lifecycle::scope::scope;
    let in_four_seconds = || Some(Deadline(now_ms() + 4_000));
    let default = scope(in_four_seconds(), 500, Duration::ZERO, async {
        lock_wait()
    })
    .await;
    assert!(default > Duration::from_millis(3_200), "{default:?}");
    let custom = scope(in_four_seconds(), 2_000, Duration::ZERO, async {
        lock_wait()
    })
    .await;
    assert!(custom <= Duration::from_millis(1_900), "{custom:?}");
    assert!(custom >= Duration::from_millis(1_600), "{custom:?}");
    assert_eq!(lock_wait(), OUTSIDE_AN_INVOCATION);
}

/// With the table and index there, `create_table` only reads the catalogue: a role that
/// may not create anything starts (SQLite's `query_only` refuses every write and DDL).
#[tokio::test]
async fn create_table_only_reads_the_catalogue_once_the_table_exists() {
    let (store, _path) = store().await;
    sqlx::raw_sql("PRAGMA query_only = ON")
        .execute(store.pool())
        .await
        .unwrap();
    // Every connection of the pool: the store's pool has up to 8.
    let connections: Vec<_> =
        futures_util::future::join_all((0..8).map(|_| store.pool().acquire())).await;
    for connection in connections {
        let mut connection = connection.unwrap();
        sqlx::raw_sql("PRAGMA query_only = ON")
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    store.create_table().await.expect("nothing to create");
    // Without the index, it must create one, may not, and says what to run.
    sqlx::raw_sql("PRAGMA query_only = OFF; DROP INDEX lambda_thaw_idempotency_expires; PRAGMA query_only = ON")
        .execute(store.pool())
        .await
        .unwrap();
    let error = store.create_table().await.unwrap_err().to_string();
    assert!(
        error.contains("store's index `lambda_thaw_idempotency_expires` is missing"),
        "{error}"
    );
    assert!(error.contains(store.schema()), "{error}");
}

/// Closed as the shutdown hook closes a state that is the store, its pool is closed.
#[tokio::test]
async fn closing_the_store_closes_its_pool() {
    let (store, _path) = store().await;
    crate::close::Close::close(&store).await;
    assert!(store.pool().is_closed());
}

/// Transactional mode sets the connection's lock wait for its transaction and sets it back
/// after: on SQLite, the busy timeout is sqlx's 5 s again on the connection it used.
#[tokio::test]
async fn the_connection_s_lock_wait_is_set_back_after_the_transaction() {
    let path = tempfile_path::Path::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path.0)
        .create_if_missing(true);
    // One connection: the one the transaction used is the one read after.
    let pool = sqlx::pool::PoolOptions::<Sqlite>::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let store = Idempotency::new(pool.clone()).unwrap();
    store.create_table().await.unwrap();
    let key = Key::new("o-wait", "{}");
    let answer = in_an_invocation_of(
        Duration::from_secs(2),
        store.transactional(&key, async |_tx| Ok::<_, lambda_runtime::Error>(1)),
    )
    .await
    .unwrap();
    assert_eq!(answer, 1);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        busy, 5000,
        "the busy timeout the transaction set was set back"
    );
}

/// A claim lasts until the invocation's deadline, a record until its expiry — or, if the
/// expiry is shorter than the claim, until the claim's end — counted from now.
#[tokio::test]
async fn a_claim_ends_at_the_deadline_and_a_record_at_its_expiry() {
    let (store, _path) = store().await;
    let three_seconds = Duration::from_secs(3);
    let (now, until, expires) = in_an_invocation_of(three_seconds, async { store.times() }).await;
    assert!((2_800..=3_000).contains(&(until - now)), "{now} {until}");
    assert!(
        (expires - now - 3_600_000).abs() <= 5,
        "an hour: {now} {expires}"
    );
    let short = store.clone().expires_after(Duration::from_secs(1));
    let (_, until, expires) = in_an_invocation_of(three_seconds, async { short.times() }).await;
    assert_eq!(expires, until, "never before the claim ends");
    // Outside an invocation: a claim of its own length.
    let (now, until, _) = store.times();
    assert_eq!(until - now, OUTSIDE_AN_INVOCATION.as_millis() as i64);
}

/// Where the table is missing and cannot be made (the role may not write), the error names
/// the table, not its index.
#[tokio::test]
async fn a_missing_table_that_cannot_be_made_is_named() {
    let path = tempfile_path::Path::new();
    std::fs::write(&path.0, b"").unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path.0)
        .read_only(true);
    let pool = sqlx::pool::PoolOptions::<Sqlite>::new()
        .connect_with(options)
        .await
        .unwrap();
    let store = Idempotency::new(pool).unwrap();
    let error = store.create_table().await.unwrap_err().to_string();
    assert!(
        error.contains("store's table `lambda_thaw_idempotency` is missing"),
        "{error}"
    );
}

/// A clean-up is due a minute after the last at the earliest, and taken once.
#[test]
fn a_clean_up_is_due_once_a_minute() {
    let last = AtomicI64::new(0);
    let start = 1_000_000;
    assert!(clean_up_due(&last, start), "the first one");
    assert_eq!(last.load(Ordering::Relaxed), start, "recorded");
    assert!(!clean_up_due(&last, start), "not again at once");
    assert!(!clean_up_due(&last, start + CLEAN_UP_EVERY_MS - 1));
    assert!(
        clean_up_due(&last, start + CLEAN_UP_EVERY_MS),
        "a minute later"
    );
    assert!(!clean_up_due(&last, start + CLEAN_UP_EVERY_MS + 1));
}
