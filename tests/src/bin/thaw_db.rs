//! A `#[handler]` on sqlx for the lifecycle tests: `DATABASE_URL` picks the database
//! (PostgreSQL, MariaDB, or SQLite where no session can be killed). Events: `{"insert": key, "sleep_ms"?: N, "defer"?: true}`
//! inserts `key` in a transaction, sleeping inside it before the commit;
//! `{"select": true}` runs one query. Every answer names the database session that served
//! it, so tests can kill that session while the environment is frozen.
//! `FIXTURE_POOL=sqlx-default` uses sqlx's own pool defaults instead of lambda-thaw's;
//! `FIXTURE_ACQUIRE=lambda-thaw` makes `select` acquire through `lambda_thaw::sqlx::acquire`;
//! `FIXTURE_GOVERNOR=1` governs the pool (`lambda_thaw::sqlx::connect_governed`).

use std::time::Duration;

use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool};

struct Db {
    pool: AnyPool,
    kind: Kind,
    /// `FIXTURE_ACQUIRE=lambda-thaw`: `select` acquires through `lambda_thaw::sqlx::acquire`
    /// instead of sqlx's pool.
    acquire_through_lambda_thaw: bool,
}

enum Kind {
    Postgres,
    MySql,
    Sqlite,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    insert: Option<String>,
    sleep_ms: Option<u64>,
    defer: Option<bool>,
    select: Option<bool>,
}

async fn setup() -> Result<Db, Error> {
    sqlx::any::install_default_drivers();
    let url = std::env::var("DATABASE_URL")?;
    let options = match std::env::var("FIXTURE_POOL").as_deref() {
        Ok("sqlx-default") => AnyPoolOptions::new().max_connections(1),
        _ => lambda_thaw::sqlx::pool_options::<Any>(),
    };
    let pool = if std::env::var_os("FIXTURE_GOVERNOR").is_some() {
        let governor = lambda_thaw::sqlx::Governor::default();
        lambda_thaw::sqlx::connect_governed::<Any>(options, &url, governor).await?
    } else {
        lambda_thaw::sqlx::connect_with(options, &url).await?
    };
    lambda_thaw::sqlx::create_schema(
        &pool,
        "CREATE TABLE IF NOT EXISTS lt_items (item_key VARCHAR(64) PRIMARY KEY)",
    )
    .await?;
    let kind = if url.starts_with("postgres") {
        Kind::Postgres
    } else if url.starts_with("sqlite") {
        Kind::Sqlite
    } else {
        Kind::MySql
    };
    let acquire_through_lambda_thaw =
        std::env::var("FIXTURE_ACQUIRE").is_ok_and(|v| v == "lambda-thaw");
    Ok(Db {
        pool,
        kind,
        acquire_through_lambda_thaw,
    })
}

async fn close(db: &Db) {
    db.pool.close().await;
    println!("shutdown hook ran: pool closed");
}

#[handler(init = setup, shutdown = close, deadline_margin = "500ms")]
async fn handle(event: LambdaEvent<Command>, db: &Db) -> Result<Value, Error> {
    let command = event.payload;
    let request_id = event.context.request_id;
    let session_query = match db.kind {
        Kind::Postgres => "SELECT CAST(pg_backend_pid() AS BIGINT)",
        Kind::MySql => "SELECT CAST(CONNECTION_ID() AS SIGNED)",
        Kind::Sqlite => "SELECT CAST(0 AS BIGINT)",
    };
    if command.select.is_some() {
        let query = sqlx::query_as(session_query);
        let (session,): (i64,) = if db.acquire_through_lambda_thaw {
            let mut connection = lambda_thaw::sqlx::acquire(&db.pool).await?;
            query.fetch_one(&mut *connection).await?
        } else {
            query.fetch_one(&db.pool).await?
        };
        return Ok(json!({ "session": session }));
    }
    let key = command.insert.ok_or("expected `insert` or `select`")?;
    println!("inserting {key} in {request_id}");
    if command.defer == Some(true) {
        lambda_thaw::defer(async move { println!("deferred ran {request_id}") })?;
    }
    let insert = if let Kind::Postgres = db.kind {
        "INSERT INTO lt_items (item_key) VALUES ($1)"
    } else {
        "INSERT INTO lt_items (item_key) VALUES (?)"
    };
    let mut transaction = db.pool.begin().await?;
    sqlx::query(insert)
        .bind(&key)
        .execute(&mut *transaction)
        .await?;
    let (session,): (i64,) = sqlx::query_as(session_query)
        .fetch_one(&mut *transaction)
        .await?;
    if let Some(ms) = command.sleep_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    transaction.commit().await?;
    Ok(json!({ "inserted": key, "session": session }))
}
