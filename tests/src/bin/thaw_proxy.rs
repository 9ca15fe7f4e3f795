//! A `#[handler]` on PostgreSQL for the proxy tests: `DATABASE_URL` (usually PgBouncer in
//! transaction mode), `FIXTURE_POOL=proxy` for `lambda_thaw::sqlx::proxy::ProxyPool`,
//! anything else for a plain pool from `lambda_thaw::sqlx::connect`.
//! Event `{"key": "k", "n": 41}`: one parameterised query (`n + 1`), then `key` inserted in
//! a transaction. The answer names the server connection that ran the query.

use lambda_thaw::sqlx::proxy::ProxyPool;
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{Executor, PgPool, Postgres};

enum Db {
    Plain(PgPool),
    Proxy(ProxyPool<Postgres>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    key: String,
    n: i64,
}

async fn setup() -> Result<Db, Error> {
    let url = std::env::var("DATABASE_URL")?;
    Ok(match std::env::var("FIXTURE_POOL").as_deref() {
        Ok("proxy") => Db::Proxy(ProxyPool::connect(&url).await?),
        _ => Db::Plain(lambda_thaw::sqlx::connect(&url).await?),
    })
}

async fn close(db: &Db) {
    match db {
        Db::Plain(pool) => pool.close().await,
        Db::Proxy(pool) => pool.pool().close().await,
    }
}

const ADD_ONE: &str = "SELECT CAST($1 AS BIGINT) + 1, CAST(pg_backend_pid() AS BIGINT)";
const INSERT: &str = "INSERT INTO lt_items (item_key) VALUES ($1)";

async fn add_one<'e>(
    executor: impl Executor<'e, Database = Postgres>,
    n: i64,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(ADD_ONE).bind(n).fetch_one(executor).await
}

#[handler(init = setup, shutdown = close)]
async fn handle(event: LambdaEvent<Command>, db: &Db) -> Result<Value, Error> {
    let Command { key, n } = event.payload;
    let (sum, backend) = match db {
        Db::Plain(pool) => {
            let answer = add_one(pool, n).await?;
            let mut transaction = pool.begin().await?;
            sqlx::query(INSERT)
                .bind(&key)
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            answer
        }
        Db::Proxy(pool) => {
            let answer = add_one(pool, n).await?;
            let mut transaction = pool.begin().await?;
            sqlx::query(INSERT)
                .bind(&key)
                .execute(&mut transaction)
                .await?;
            transaction.commit().await?;
            answer
        }
    };
    Ok(json!({ "n": sum, "backend": backend }))
}
