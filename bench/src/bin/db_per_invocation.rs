//! Benchmark baseline for the anti-pattern: a new database connection per invocation.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection};

async fn handle(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut connection = AnyConnection::connect(&std::env::var("DATABASE_URL")?).await?;
    let (one,): (i32,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut connection)
        .await?;
    connection.close().await?;
    Ok(json!({ "one": one }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    sqlx::any::install_default_drivers();
    lambda_runtime::run(service_fn(handle)).await
}
