//! A `#[handler]` whose PostgreSQL pool authenticates with a password from a "secrets
//! store" (the file `PASSWORD_FILE`), cached for 5 minutes and refetched when the database
//! rejects it. `DATABASE_URL` carries no password.

use std::str::FromStr;
use std::time::Duration;

use lambda_thaw::sqlx::{RotatingPool, pool_options};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};
use sqlx::Postgres;
use sqlx::postgres::PgConnectOptions;

async fn read_secret(file: String) -> Result<String, Error> {
    let password = tokio::fs::read_to_string(&file).await?;
    println!("credential fetched");
    Ok(password.trim().to_string())
}

async fn setup() -> Result<RotatingPool<Postgres>, Error> {
    let base = PgConnectOptions::from_str(&std::env::var("DATABASE_URL")?)?;
    let file = std::env::var("PASSWORD_FILE")?;
    RotatingPool::connect(
        pool_options(),
        base,
        |options: PgConnectOptions, password: &str| options.password(password),
        Duration::from_secs(300),
        move || read_secret(file.clone()),
    )
    .await
}

#[handler(init = setup)]
async fn handle(
    _event: LambdaEvent<Value>,
    db: &'static RotatingPool<Postgres>,
) -> Result<Value, Error> {
    let mut connection = db.acquire().await?;
    let (session,): (i64,) = sqlx::query_as("SELECT CAST(pg_backend_pid() AS BIGINT)")
        .fetch_one(&mut *connection)
        .await?;
    Ok(json!({ "session": session }))
}
