//! Benchmark fixture: one query per invocation on a pool built by `#[handler(init = connect)]`.

use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};
use sqlx::{Any, AnyPool};

async fn connect() -> Result<AnyPool, Error> {
    sqlx::any::install_default_drivers();
    Ok(lambda_thaw::sqlx::connect::<Any>(&std::env::var("DATABASE_URL")?).await?)
}

#[handler(init = connect)]
async fn handle(_event: LambdaEvent<Value>, pool: &AnyPool) -> Result<Value, Error> {
    let (one,): (i32,) = sqlx::query_as("SELECT 1").fetch_one(pool).await?;
    Ok(json!({ "one": one }))
}
