//! Benchmark fixture: one query per invocation on a pool built by `#[handler(init = connect)]`;
//! with `FIXTURE_POOL=governed`, the pool is governed (`lambda_thaw::sqlx::connect_governed`).

use lambda_thaw::sqlx::{Governor, connect_governed, pool_options};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};
use sqlx::{Any, AnyPool};

async fn connect() -> Result<AnyPool, Error> {
    sqlx::any::install_default_drivers();
    let url = std::env::var("DATABASE_URL")?;
    Ok(match std::env::var("FIXTURE_POOL").as_deref() {
        Ok("governed") => {
            connect_governed::<Any>(pool_options(), &url, Governor::default()).await?
        }
        _ => lambda_thaw::sqlx::connect::<Any>(&url).await?,
    })
}

#[handler(init = connect)]
async fn handle(_event: LambdaEvent<Value>, pool: &AnyPool) -> Result<Value, Error> {
    let (one,): (i32,) = sqlx::query_as("SELECT 1").fetch_one(pool).await?;
    Ok(json!({ "one": one }))
}
