//! The same function as `thaw-idempotent-macro`, through `Builder` and
//! `Idempotency::handler`.

use lambda_thaw::idempotency::Idempotency;
use lambda_thaw::{Builder, Error, LambdaEvent};
use serde_json::Value;
use sqlx::{Sqlite, Transaction};

async fn handle(
    event: LambdaEvent<Value>,
    tx: &mut Transaction<'_, Sqlite>,
    _store: &'static Idempotency<Sqlite>,
) -> Result<Value, Error> {
    lambda_thaw_tests::idempotency::write_order(&event.payload, tx).await
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
