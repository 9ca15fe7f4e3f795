//! The same function as `thaw-idempotent-macro`, through `Builder` and
//! `Idempotency::handler`.

use lambda_thaw::idempotency::Idempotency;
use lambda_thaw::{Builder, Error, LambdaEvent};
use serde_json::{Value, json};
use sqlx::{Sqlite, Transaction};

async fn handle(
    event: LambdaEvent<Value>,
    tx: &mut Transaction<'_, Sqlite>,
    _store: &'static Idempotency<Sqlite>,
) -> Result<Value, Error> {
    let order_id = event.payload["order_id"].clone();
    sqlx::query("INSERT INTO lt_orders (order_id, written_by) VALUES (?, ?)")
        .bind(order_id.to_string())
        .bind(i64::from(std::process::id()))
        .execute(&mut **tx)
        .await?;
    Ok(json!({ "order_id": order_id, "written_by": std::process::id() }))
}

fn main() -> std::process::ExitCode {
    Builder::new()
        .name("handle")
        .init("setup", lambda_thaw_tests::idempotency::sqlite_orders_store)
        .run(Idempotency::<Sqlite>::handler(
            &["/order_id"],
            |event, tx, store| Box::pin(handle(event, tx, store)),
        ))
}
