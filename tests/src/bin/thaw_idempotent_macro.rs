//! `#[handler(idempotent(key = "/order_id"))]` on SQLite (`DATABASE_URL`): each order
//! written once in the claim's transaction; the answer names the process that wrote it.

use lambda_thaw::idempotency::Idempotency;
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};
use sqlx::{Sqlite, Transaction};

async fn setup() -> Result<Idempotency<Sqlite>, Error> {
    let pool = lambda_thaw::sqlx::connect::<Sqlite>(&std::env::var("DATABASE_URL")?).await?;
    lambda_thaw::sqlx::create_schema(
        &pool,
        "CREATE TABLE IF NOT EXISTS lt_orders (order_id TEXT PRIMARY KEY, written_by INTEGER NOT NULL)",
    )
    .await?;
    let store = Idempotency::new(pool)?;
    store.create_table().await?;
    Ok(store)
}

#[handler(init = setup, idempotent(key = "/order_id"))]
async fn handle(
    event: LambdaEvent<Value>,
    tx: &mut Transaction<'_, Sqlite>,
    _store: &Idempotency<Sqlite>,
) -> Result<Value, Error> {
    let order_id = event.payload["order_id"].clone();
    sqlx::query("INSERT INTO lt_orders (order_id, written_by) VALUES (?, ?)")
        .bind(order_id.to_string())
        .bind(i64::from(std::process::id()))
        .execute(&mut **tx)
        .await?;
    Ok(json!({ "order_id": order_id, "written_by": std::process::id() }))
}
