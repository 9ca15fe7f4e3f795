//! `#[handler(idempotent(key = "/order_id"))]` on SQLite (`DATABASE_URL`): each order
//! written once in the claim's transaction; the answer names the process that wrote it.

use lambda_thaw::idempotency::Idempotency;
use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::Value;
use sqlx::{Sqlite, Transaction};

#[handler(init = lambda_thaw_tests::idempotency::sqlite_orders_store, idempotent(key = "/order_id"))]
async fn handle(
    event: LambdaEvent<Value>,
    tx: &mut Transaction<'_, Sqlite>,
    _store: &Idempotency<Sqlite>,
) -> Result<Value, Error> {
    lambda_thaw_tests::idempotency::write_order(&event.payload, tx).await
}
