//! `#[handler(idempotent(key = "/order_id"))]` on SQLite (`DATABASE_URL`): each order
//! written once in the claim's transaction; the answer names the process that wrote it.

use lambda_thaw::idempotency::Idempotency;
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};
use sqlx::{Sqlite, Transaction};

#[handler(init = lambda_thaw_tests::idempotency::sqlite_orders_store, idempotent(key = "/order_id"))]
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
