//! Orders written exactly once per key, for the idempotency tests: `DATABASE_URL` picks
//! the database (PostgreSQL, MariaDB, SQLite); `FIXTURE_POOL=proxy` builds the store on a
//! proxy-mode pool (PgBouncer in transaction mode), `FIXTURE_POOL=any` on sqlx's `Any`; `FIXTURE_MODE=around` uses around mode
//! — its effect, a row in `lt_calls` (no key: each run adds one, as a call to another
//! service would), made outside the claim — else transactional mode (the order's row in
//! `lt_orders`, keyed, written in the claim's transaction); `FIXTURE_MODE=plain`, the
//! control: no idempotency, each run adds its row to `lt_calls`.
//! Event: `{"order_id": "o-1", "total": 10, "sleep_ms"?: 300, "fail"?: true}` — the write,
//! then a sleep (inside the transaction in transactional mode), then an error if asked.
//! The answer names the environment (its process id) that wrote the order. An SQS event
//! (`{"Records": [...]}`) carries such orders as message bodies, each keyed on its message
//! id, and is answered with its `batchItemFailures`.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use lambda_thaw::idempotency::{Idempotency, Key};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{Any, AssertSqlSafe, MySql, Postgres, Sqlite};

enum Store {
    Postgres(Idempotency<Postgres>),
    MySql(Idempotency<MySql>),
    Sqlite(Idempotency<Sqlite>),
    /// `FIXTURE_POOL=any`: one build for every database, the dialect from the URL.
    Any(Idempotency<Any>),
}

struct State {
    store: Store,
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Transactional,
    Around,
    Plain,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Order {
    order_id: String,
    total: i64,
    sleep_ms: Option<u64>,
    fail: Option<bool>,
}

const TABLE: &str = "CREATE TABLE IF NOT EXISTS lt_orders (order_id VARCHAR(64) PRIMARY KEY, total BIGINT NOT NULL, written_by BIGINT NOT NULL); \
     CREATE TABLE IF NOT EXISTS lt_calls (order_id VARCHAR(64) NOT NULL, written_by BIGINT NOT NULL)";

async fn setup() -> Result<State, Error> {
    let url = std::env::var("DATABASE_URL")?;
    let proxy = std::env::var("FIXTURE_POOL").as_deref() == Ok("proxy");
    let store = if std::env::var("FIXTURE_POOL").as_deref() == Ok("any") {
        sqlx::any::install_default_drivers();
        let pool = lambda_thaw::sqlx::connect::<Any>(&url).await?;
        lambda_thaw::sqlx::create_schema(&pool, TABLE).await?;
        let store = Idempotency::new(pool)?;
        store.create_table().await?;
        Store::Any(store)
    } else if url.starts_with("postgres") {
        let pool = if proxy {
            lambda_thaw::sqlx::proxy::ProxyPool::<Postgres>::connect(&url)
                .await?
                .pool()
                .clone()
        } else {
            lambda_thaw::sqlx::connect::<Postgres>(&url).await?
        };
        lambda_thaw::sqlx::create_schema(&pool, TABLE).await?;
        let store = Idempotency::new(pool)?;
        store.create_table().await?;
        Store::Postgres(store)
    } else if url.starts_with("mysql") {
        let pool = lambda_thaw::sqlx::connect::<MySql>(&url).await?;
        lambda_thaw::sqlx::create_schema(&pool, TABLE).await?;
        let store = Idempotency::new(pool)?;
        store.create_table().await?;
        Store::MySql(store)
    } else {
        let pool = lambda_thaw::sqlx::connect::<Sqlite>(&url).await?;
        lambda_thaw::sqlx::create_schema(&pool, TABLE).await?;
        let store = Idempotency::new(pool)?;
        store.create_table().await?;
        Store::Sqlite(store)
    };
    Ok(State {
        store,
        mode: match std::env::var("FIXTURE_MODE").as_deref() {
            Ok("around") => Mode::Around,
            Ok("plain") => Mode::Plain,
            _ => Mode::Transactional,
        },
    })
}

/// The order's row. The id is checked to be plain characters, so it can be written as a
/// literal: one statement, no prepared statement (PgBouncer in transaction mode).
fn insert(table: &str, order: &Order) -> Result<String, Error> {
    if !order
        .order_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "order_id `{}` has characters the fixture refuses",
            order.order_id
        )
        .into());
    }
    Ok(match table {
        "lt_orders" => format!(
            "INSERT INTO lt_orders (order_id, total, written_by) VALUES ('{}', {}, {})",
            order.order_id,
            order.total,
            std::process::id()
        ),
        _ => format!(
            "INSERT INTO lt_calls (order_id, written_by) VALUES ('{}', {})",
            order.order_id,
            std::process::id()
        ),
    })
}

/// The handler's body for one driver: in transactional mode the write goes through the
/// claim's transaction; in around mode, straight to the pool after the claim.
macro_rules! handle_with {
    ($store:expr, $order:expr, $key:expr, $mode:expr) => {{
        let store = $store;
        let order = $order;
        let key = $key;
        let answer = json!({ "order_id": order.order_id, "written_by": std::process::id() });
        let pause = Duration::from_millis(order.sleep_ms.unwrap_or(0));
        if $mode == Mode::Plain {
            sqlx::raw_sql(AssertSqlSafe(insert("lt_calls", order)?))
                .execute(store.pool())
                .await?;
            Ok(answer)
        } else if $mode == Mode::Around {
            store
                .around(&key, async || {
                    sqlx::raw_sql(AssertSqlSafe(insert("lt_calls", order)?))
                        .execute(store.pool())
                        .await?;
                    tokio::time::sleep(pause).await;
                    if order.fail == Some(true) {
                        return Err(Error::from("asked to fail"));
                    }
                    Ok::<_, Error>(answer)
                })
                .await
        } else {
            store
                .transactional(&key, async |tx| {
                    sqlx::raw_sql(AssertSqlSafe(insert("lt_orders", order)?))
                        .execute(&mut **tx)
                        .await?;
                    tokio::time::sleep(pause).await;
                    if order.fail == Some(true) {
                        return Err(Error::from("asked to fail"));
                    }
                    Ok::<_, Error>(answer)
                })
                .await
        }
    }};
}

/// One order, under `key`.
async fn one(state: &State, order: &Order, key: Key) -> Result<Value, Error> {
    match &state.store {
        Store::Postgres(store) => handle_with!(store, order, key, state.mode),
        Store::MySql(store) => handle_with!(store, order, key, state.mode),
        Store::Sqlite(store) => handle_with!(store, order, key, state.mode),
        Store::Any(store) => handle_with!(store, order, key, state.mode),
    }
}

/// An order as the event, keyed at `/order_id`; or an SQS batch of orders, each keyed on
/// its message's id, through `lambda_thaw::batch::sqs` (its failures reported).
#[handler(init = setup)]
async fn handle(event: LambdaEvent<Value>, state: &State) -> Result<Value, Error> {
    if event.payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event.payload)?;
        let response = lambda_thaw::batch::sqs(batch, 10, |message| async move {
            let body = message.body.unwrap_or_default();
            let order: Order = serde_json::from_str(&body)?;
            let key = Key::new(message.message_id.as_deref().unwrap_or_default(), &body);
            one(state, &order, key).await.map(|_| ())
        })
        .await;
        return Ok(serde_json::to_value(response)?);
    }
    let order: Order = serde_json::from_value(event.payload)?;
    let key = Key::from_pointers(&order, &["/order_id"])?;
    one(state, &order, key).await
}
