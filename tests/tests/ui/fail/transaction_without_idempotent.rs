use lambda_thaw::idempotency::Idempotency;
use lambda_thaw::{Error, LambdaEvent, handler};
use sqlx::{Postgres, Transaction};

async fn setup() -> Result<Idempotency<Postgres>, Error> {
    let pool = lambda_thaw::sqlx::connect::<Postgres>("postgres://localhost/db").await?;
    Ok(Idempotency::new(pool)?)
}

#[handler(init = setup)]
async fn handle(
    event: LambdaEvent<serde_json::Value>,
    _tx: &mut Transaction<'_, Postgres>,
    _orders: &Idempotency<Postgres>,
) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}
