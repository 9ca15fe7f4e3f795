//! The idempotency scenarios, run by the SQLite tests (`cargo test`) and the database
//! tests (PostgreSQL, MariaDB, PgBouncer) alike, on the `thaw-idempotent` fixture through
//! the emulator: real environments, real concurrency, one database.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, Fleet, FunctionConfig, InvocationRecord, Outcome};
use serde_json::Value;
use sqlx::{AnyPool, AssertSqlSafe};

/// The init of the `thaw-idempotent-macro` and `thaw-idempotent-builder` fixtures: the
/// orders table and the store, on the SQLite database at `DATABASE_URL`.
pub async fn sqlite_orders_store()
-> Result<lambda_thaw::idempotency::Idempotency<sqlx::Sqlite>, lambda_thaw::Error> {
    let pool = lambda_thaw::sqlx::connect::<sqlx::Sqlite>(&std::env::var("DATABASE_URL")?).await?;
    lambda_thaw::sqlx::create_schema(
        &pool,
        "CREATE TABLE IF NOT EXISTS lt_orders (order_id TEXT PRIMARY KEY, written_by INTEGER NOT NULL)",
    )
    .await?;
    let store = lambda_thaw::idempotency::Idempotency::new(pool)?;
    store.create_table().await?;
    Ok(store)
}

/// The handler body of the same two fixtures: the order written in the claim's
/// transaction; the answer names the process that wrote it.
pub async fn write_order(
    payload: &Value,
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
) -> Result<Value, lambda_thaw::Error> {
    let order_id = payload["order_id"].clone();
    sqlx::query("INSERT INTO lt_orders (order_id, written_by) VALUES (?, ?)")
        .bind(order_id.to_string())
        .bind(i64::from(std::process::id()))
        .execute(&mut **tx)
        .await?;
    Ok(serde_json::json!({ "order_id": order_id, "written_by": std::process::id() }))
}

/// How many rows `query` counts.
pub async fn count(pool: &AnyPool, query: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(AssertSqlSafe(query.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The error type of a record's answer, if it is an error.
fn error_type(record: &InvocationRecord) -> Option<String> {
    match &record.outcome {
        Outcome::Response(_) => None,
        other => Some(format!("{other:?}")),
    }
}

fn response(record: &InvocationRecord) -> Option<Value> {
    match &record.outcome {
        Outcome::Response(body) => Some(serde_json::from_slice(body).unwrap()),
        _ => None,
    }
}

/// Transactional mode: 20 deliveries of one order at once over 5 environments (4
/// invocations each at a time, as Managed Instances run them), each holding its
/// transaction 300 ms; then 5 more; then a failing order and its retry; then the first
/// order's key with another payload. `function` is the fixture's configuration;
/// `counter` a pool on the same database, to count rows.
pub async fn one_order_delivered_twenty_times_at_once(function: FunctionConfig, counter: &AnyPool) {
    let fleet = Fleet::new(function.max_concurrency(4), 5);
    let order = r#"{"order_id": "o-1", "total": 10, "sleep_ms": 300}"#;
    let records = fleet
        .run(vec![order.into(); 20], Duration::ZERO, |_, _| {})
        .await;
    let environments: std::collections::BTreeSet<usize> =
        records.iter().map(|r| r.environment).collect();
    assert_eq!(
        environments.len(),
        5,
        "the deliveries spread over 5 environments"
    );
    let rows = count(
        counter,
        "SELECT count(*) FROM lt_orders WHERE order_id = 'o-1'",
    )
    .await;
    assert_eq!(rows, 1, "the order written once: {records:#?}");
    let written_by = count(
        counter,
        "SELECT written_by FROM lt_orders WHERE order_id = 'o-1'",
    )
    .await;
    let answers: Vec<Value> = records.iter().filter_map(response).collect();
    for record in &records {
        if let Some(error) = error_type(record) {
            assert!(
                error.contains("lambda_thaw::IdempotencyInProgress"),
                "a delivery got neither the response nor IdempotencyInProgress: {error}"
            );
        }
    }
    assert!(!answers.is_empty());
    for answer in &answers {
        assert_eq!(answer["order_id"], "o-1");
        assert_eq!(
            answer["written_by"].as_i64(),
            Some(written_by),
            "every caller got the first delivery's response"
        );
    }
    eprintln!(
        "20 deliveries at once: {} answered with the first response, {} IdempotencyInProgress; 1 row",
        answers.len(),
        records.len() - answers.len()
    );

    // Later duplicates, wherever they land, get the same response without running.
    let later = fleet
        .run(vec![order.into(); 5], Duration::ZERO, |_, _| {})
        .await;
    for record in &later {
        assert_eq!(
            response(record).map(|a| a["written_by"].as_i64()),
            Some(Some(written_by)),
            "{record:?}"
        );
    }
    assert_eq!(count(counter, "SELECT count(*) FROM lt_orders").await, 1);

    // A failing delivery leaves nothing (its write rolled back with the claim); its retry
    // runs and writes.
    let environment = &fleet.environments()[0];
    let failed = environment
        .invoke(r#"{"order_id": "o-2", "total": 5, "fail": true}"#)
        .await;
    assert!(
        error_type(&failed).is_some_and(|e| e.contains("asked to fail")),
        "{failed:?}"
    );
    assert_eq!(
        count(
            counter,
            "SELECT count(*) FROM lt_orders WHERE order_id = 'o-2'"
        )
        .await,
        0
    );
    let retried = environment
        .invoke(r#"{"order_id": "o-2", "total": 5}"#)
        .await;
    assert!(response(&retried).is_some(), "{retried:?}");
    assert_eq!(
        count(
            counter,
            "SELECT count(*) FROM lt_orders WHERE order_id = 'o-2'"
        )
        .await,
        1
    );

    // The first order's key with another payload: refused, with its own errorType.
    let reused = environment
        .invoke(r#"{"order_id": "o-1", "total": 99, "sleep_ms": 300}"#)
        .await;
    assert!(
        error_type(&reused).is_some_and(|e| e.contains("lambda_thaw::IdempotencyPayloadMismatch")),
        "{reused:?}"
    );
    fleet.shutdown().await;
}

/// Around mode, a delivery cut at its deadline after its effect: its claim lasts until
/// that deadline — a duplicate meanwhile is told `IdempotencyInProgress` — and the retry
/// after it runs and completes. The effect then ran twice: what around mode cannot
/// promise, counted. `function` is the fixture's configuration in around mode.
pub async fn around_mode_claim_ends_at_the_deadline(function: FunctionConfig, counter: &AnyPool) {
    let timeout = Duration::from_secs(2);
    let first = Environment::new(function.clone().timeout(timeout));
    let second = Environment::new(function.timeout(timeout));
    // Warm both, so the deadlines below are the invocations' own.
    let _ = first.invoke(r#"{"order_id": "warm-1", "total": 1}"#).await;
    let _ = second.invoke(r#"{"order_id": "warm-2", "total": 1}"#).await;
    let order = r#"{"order_id": "o-9", "total": 9, "sleep_ms": 5000}"#;
    let started = std::time::Instant::now();
    let cut = {
        let first = &first;
        async move { first.invoke(order).await }
    };
    let duplicate = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        second
            .invoke(r#"{"order_id": "o-9", "total": 9, "sleep_ms": 5000}"#)
            .await
    };
    let (cut, duplicate) = tokio::join!(cut, duplicate);
    assert!(response(&cut).is_none(), "cut at its deadline: {cut:?}");
    assert!(
        error_type(&duplicate).is_some_and(|e| e.contains("lambda_thaw::IdempotencyInProgress")),
        "a duplicate while the claim lasts: {duplicate:?}"
    );
    // After the first delivery's deadline, the retry takes the claim over.
    tokio::time::sleep((timeout + Duration::from_millis(200)).saturating_sub(started.elapsed()))
        .await;
    let retry = second
        .invoke(r#"{"order_id": "o-9", "total": 9, "sleep_ms": 0}"#)
        .await;
    // The payload differs in `sleep_ms`: the key's record had expired its claim and is
    // taken over whatever its payload.
    assert!(response(&retry).is_some(), "the retry completes: {retry:?}");
    let effects = count(
        counter,
        "SELECT count(*) FROM lt_calls WHERE order_id = 'o-9'",
    )
    .await;
    assert_eq!(effects, 2, "the cut delivery's effect, then the retry's");
    let replay = first
        .invoke(r#"{"order_id": "o-9", "total": 9, "sleep_ms": 0}"#)
        .await;
    assert_eq!(
        response(&replay),
        response(&retry),
        "later duplicates get the retry's response"
    );
    assert_eq!(
        count(
            counter,
            "SELECT count(*) FROM lt_calls WHERE order_id = 'o-9'"
        )
        .await,
        2
    );
    first.shutdown().await;
    second.shutdown().await;
}

/// At-least-once in, exactly-once out: `orders` orders delivered as Lambda's asynchronous
/// invocations deliver them (two retries), with 10 % of them delivered twice (half of those
/// at once) and 5 % of deliveries' answers lost (the environment killed as it answers,
/// after its commit), over 5 environments — through `function` in transactional mode,
/// then the same deliveries (the same draws) in the fixture's plain mode as the control.
/// Asserts exactly `orders` rows, none lost, none twice, every redelivery answered with
/// the first response; counts the control's extra rows.
pub async fn orders_delivered_at_least_once_are_written_exactly_once(
    function: FunctionConfig,
    counter: &AnyPool,
    orders: usize,
) {
    use lambda_thaw_emulator::delivery::{Delivery, deliver};
    let events: Vec<_> = (0..orders)
        .map(|i| format!(r#"{{"order_id": "o-{i}", "total": {i}}}"#).into())
        .collect();
    let delivery = Delivery {
        duplicates: 0.10,
        lost_answers: 0.05,
        seed: 42,
        ..Delivery::asynchronous(0.0005)
    };
    let fleet = Fleet::new(function.clone().env("FIXTURE_MODE", "transactional"), 5);
    let report = deliver(&fleet, events.clone(), &delivery).await;
    fleet.shutdown().await;
    let rows = count(counter, "SELECT count(*) FROM lt_orders").await;
    let distinct = count(counter, "SELECT count(DISTINCT order_id) FROM lt_orders").await;
    eprintln!(
        "{orders} orders: {} deliveries ({} duplicates, {} answers lost, {} retries, {} dead letters) → {rows} rows",
        report.deliveries.len(),
        report.duplicates(),
        report.lost(),
        report.retries(),
        report.dead_letters.len()
    );
    assert!(
        report.duplicates() >= orders / 20,
        "the source duplicated events"
    );
    assert!(report.lost() >= orders / 50, "the source lost answers");
    assert_eq!(rows, orders as i64, "exactly one row per order, none lost");
    assert_eq!(distinct, orders as i64);
    // An event whose three deliveries all lost their answers (about one run in eight at
    // these rates) is dead-lettered though its order was written: every other is answered.
    for (event, answer) in report.answers.iter().enumerate() {
        assert!(
            answer.is_some()
                || (report.dead_letters.contains(&event)
                    && report
                        .deliveries
                        .iter()
                        .filter(|d| d.event == event)
                        .all(|d| d.lost)),
            "event {event}: not answered, and not for lost answers"
        );
    }
    assert_eq!(
        report.differing_answers(),
        0,
        "every redelivery answered with the first response"
    );

    // The control: the same deliveries, no idempotency.
    let control = Fleet::new(function.env("FIXTURE_MODE", "plain"), 5);
    let control_report = deliver(&control, events, &delivery).await;
    control.shutdown().await;
    let calls = count(counter, "SELECT count(*) FROM lt_calls").await;
    eprintln!(
        "control, no idempotency: {calls} rows for {orders} orders ({} twice or more), {} answers differing from the first",
        calls - orders as i64,
        control_report.differing_answers()
    );
    assert!(calls > orders as i64, "the control writes duplicates");
}

/// The same through the emulator's SQS source: `orders` orders as messages, batches of 10,
/// 10 % of messages received twice, 5 % of batches' answers lost (each such batch comes
/// back whole after the visibility timeout), 5 environments — transactional mode, each
/// message keyed on its id — then the same queue against the plain control.
pub async fn orders_through_sqs_are_written_exactly_once(
    function: FunctionConfig,
    counter: &AnyPool,
    orders: usize,
) {
    use lambda_thaw_emulator::sqs::{SqsSource, deliver_sqs};
    let bodies: Vec<String> = (0..orders)
        .map(|i| format!(r#"{{"order_id": "q-{i}", "total": {i}}}"#))
        .collect();
    let source = SqsSource {
        duplicates: 0.10,
        lost_answers: 0.05,
        visibility_timeout: std::time::Duration::from_millis(100),
        seed: 42,
        ..SqsSource::default()
    };
    let fleet = Fleet::new(function.clone().env("FIXTURE_MODE", "transactional"), 5);
    let report = deliver_sqs(&fleet, bodies.clone(), &source).await;
    fleet.shutdown().await;
    let rows = count(
        counter,
        "SELECT count(*) FROM lt_orders WHERE order_id LIKE 'q-%'",
    )
    .await;
    eprintln!(
        "SQS, {orders} orders: {} batches, {} receives ({} duplicates), {} answers lost, {} batches failed whole, {} dead letters → {rows} rows",
        report.batches,
        report.receives,
        report.duplicates,
        report.lost,
        report.failed_batches,
        report.dead_letters.len()
    );
    assert!(
        report.duplicates >= orders / 50,
        "the queue delivered duplicates"
    );
    assert!(report.lost >= 1, "answers were lost");
    assert_eq!(
        report.dead_letters,
        Vec::<usize>::new(),
        "no message dead-lettered"
    );
    assert_eq!(rows, orders as i64, "exactly one row per order, none lost");

    let control = Fleet::new(function.env("FIXTURE_MODE", "plain"), 5);
    let control_report = deliver_sqs(&control, bodies, &source).await;
    control.shutdown().await;
    let calls = count(
        counter,
        "SELECT count(*) FROM lt_calls WHERE order_id LIKE 'q-%'",
    )
    .await;
    eprintln!(
        "SQS control, no idempotency: {calls} rows for {orders} orders ({} receives)",
        control_report.receives
    );
    assert!(calls > orders as i64, "the control writes duplicates");
}

/// Transactional mode, a duplicate while the first delivery still holds its transaction:
/// the duplicate waits for the first one's lock no longer than its own deadline allows and
/// answers `IdempotencyInProgress` before it — then, once the first has committed, a
/// retry gets the first response. `function` is the fixture's configuration.
pub async fn a_duplicate_waits_no_longer_than_its_deadline(
    function: FunctionConfig,
    counter: &AnyPool,
) {
    let patient = Environment::new(function.clone().timeout(Duration::from_secs(6)));
    let hurried = Environment::new(function.timeout(Duration::from_millis(1500)));
    let _ = patient
        .invoke(r#"{"order_id": "warm-p", "total": 1}"#)
        .await;
    let _ = hurried
        .invoke(r#"{"order_id": "warm-h", "total": 1}"#)
        .await;
    let order = r#"{"order_id": "w-1", "total": 7, "sleep_ms": 3000}"#;
    let first = async { patient.invoke(order).await };
    let duplicate = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        hurried.invoke(order).await
    };
    let (first, duplicate) = tokio::join!(first, duplicate);
    let error = duplicate
        .outcome
        .error()
        .expect("the duplicate was refused");
    assert_eq!(
        error.error_type, "lambda_thaw::IdempotencyInProgress",
        "{error:?}"
    );
    let answered_in = duplicate
        .responded_at
        .and_then(|at| at.duration_since(duplicate.invoked_at).ok())
        .expect("answered, not cut at its deadline");
    assert!(answered_in < Duration::from_millis(1500), "{answered_in:?}");
    assert!(response(&first).is_some(), "{first:?}");
    let retry = hurried.invoke(order).await;
    assert_eq!(
        response(&retry),
        response(&first),
        "the retry gets the first response"
    );
    assert_eq!(
        count(
            counter,
            "SELECT count(*) FROM lt_orders WHERE order_id = 'w-1'"
        )
        .await,
        1
    );
    patient.shutdown().await;
    hurried.shutdown().await;
}
