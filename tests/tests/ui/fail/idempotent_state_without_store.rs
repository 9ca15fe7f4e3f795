use lambda_thaw::{Error, LambdaEvent, handler};
use sqlx::{PgPool, Postgres, Transaction};

struct Db {
    pool: PgPool,
}

async fn setup() -> Result<Db, Error> {
    let pool = lambda_thaw::sqlx::connect::<Postgres>("postgres://localhost/db").await?;
    Ok(Db { pool })
}

#[handler(init = setup, idempotent(key = "/order_id"))]
async fn handle(
    event: LambdaEvent<serde_json::Value>,
    _tx: &mut Transaction<'_, Postgres>,
    db: &Db,
) -> Result<serde_json::Value, Error> {
    let _ = &db.pool;
    Ok(event.payload)
}
