//! Benchmark fixture: one parameterised query per invocation on PostgreSQL, through
//! `lambda_thaw::sqlx::proxy::ProxyPool` (`FIXTURE_POOL=proxy`) or a plain pool.

use lambda_thaw::sqlx::proxy::ProxyPool;
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres};

enum Db {
    Plain(PgPool),
    Proxy(ProxyPool<Postgres>),
}

async fn connect() -> Result<Db, Error> {
    let url = std::env::var("DATABASE_URL")?;
    Ok(match std::env::var("FIXTURE_POOL").as_deref() {
        Ok("proxy") => Db::Proxy(ProxyPool::connect(&url).await?),
        _ => Db::Plain(lambda_thaw::sqlx::connect(&url).await?),
    })
}

const QUERY: &str = "SELECT CAST($1 AS INTEGER)";

#[handler(init = connect)]
async fn handle(_event: LambdaEvent<Value>, db: &Db) -> Result<Value, Error> {
    let (one,): (i32,) = match db {
        Db::Plain(pool) => sqlx::query_as(QUERY).bind(1).fetch_one(pool).await?,
        Db::Proxy(pool) => sqlx::query_as(QUERY).bind(1).fetch_one(pool).await?,
    };
    Ok(json!({ "one": one }))
}
