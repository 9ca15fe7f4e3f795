//! Benchmark baseline: one query per invocation on a pool a careful engineer builds by
//! hand in `main`, before the runtime loop (sqlx's defaults, one connection).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

async fn handle(_event: LambdaEvent<Value>, pool: &AnyPool) -> Result<Value, Error> {
    let (one,): (i32,) = sqlx::query_as("SELECT 1").fetch_one(pool).await?;
    Ok(json!({ "one": one }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&std::env::var("DATABASE_URL")?)
        .await?;
    let pool = &pool;
    lambda_runtime::run(service_fn(move |event| handle(event, pool))).await
}
