//! A `#[handler]` with metrics on. Each event says what to record: `count` increments of a
//! counter, `distinct` counters of their own, `samples` histogram values; `defer_ms`
//! deferred work (which counts too); `sleep_ms` to run past the deadline guard; `fail` an
//! error; `query` one statement on the pool when `DATABASE_URL` names a database.

use std::time::Duration;

use lambda_thaw::metrics::{counter, histogram};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Command {
    count: Option<u64>,
    distinct: Option<usize>,
    samples: Option<usize>,
    defer_ms: Option<u64>,
    sleep_ms: Option<u64>,
    fail: Option<String>,
    #[serde(default)]
    query: bool,
}

struct State {
    pool: Option<sqlx::AnyPool>,
}

async fn setup() -> Result<State, Error> {
    let pool = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            sqlx::any::install_default_drivers();
            let options = lambda_thaw::sqlx::pool_options::<sqlx::Any>();
            Some(lambda_thaw::sqlx::connect_with(options, &url).await?)
        }
        Err(_) => None,
    };
    Ok(State { pool })
}

#[handler(init = setup, metrics = "LambdaThawTest", deadline_margin = "300ms")]
async fn handle(event: LambdaEvent<Command>, state: &State) -> Result<Value, Error> {
    let command = event.payload;
    for _ in 0..command.count.unwrap_or(0) {
        counter!("orders").increment(1);
    }
    for i in 0..command.distinct.unwrap_or(0) {
        counter!(format!("metric_{i:03}")).increment(1);
    }
    for i in 0..command.samples.unwrap_or(0) {
        histogram!("basket_size").record(i as f64);
    }
    if let Some(ms) = command.defer_ms {
        lambda_thaw::defer(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            counter!("deferred_done").increment(1);
        })?;
    }
    if command.query
        && let Some(pool) = &state.pool
    {
        sqlx::query("SELECT 1").execute(pool).await?;
    }
    if let Some(ms) = command.sleep_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(reason) = command.fail {
        return Err(reason.into());
    }
    Ok(json!({ "ok": true }))
}
