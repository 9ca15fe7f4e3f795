// `idempotent(key = …)`: the handler writes through the claim's transaction; the state is
// the store, or a state that says which of its fields is; on sqlx's `Any`, one build serves
// every database.
use lambda_thaw::idempotency::{HasStore, Idempotency};
use lambda_thaw::{Error, LambdaEvent};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Postgres, Sqlite, Transaction};

#[derive(Deserialize, Serialize)]
pub struct Order {
    order_id: String,
    total: i64,
}

#[derive(Deserialize, Serialize)]
pub struct Receipt {
    order_id: String,
}

pub async fn setup() -> Result<Idempotency<Postgres>, Error> {
    let pool = lambda_thaw::sqlx::connect::<Postgres>(&std::env::var("DATABASE_URL")?).await?;
    Ok(Idempotency::new(pool)?)
}

pub struct Db {
    orders: Idempotency<Sqlite>,
}

impl HasStore<Sqlite> for Db {
    fn idempotency(&self) -> &Idempotency<Sqlite> {
        &self.orders
    }
}

pub async fn setup_db() -> Result<Db, Error> {
    let pool = lambda_thaw::sqlx::connect::<Sqlite>("sqlite::memory:").await?;
    Ok(Db {
        orders: Idempotency::new(pool)?,
    })
}

#[allow(dead_code)]
mod the_store_as_state {
    use super::{Error, Idempotency, LambdaEvent, Order, Postgres, Receipt, Transaction, setup};

    #[lambda_thaw::handler(init = setup, idempotent(key = "/order_id"))]
    pub async fn handle(
        event: LambdaEvent<Order>,
        tx: &mut Transaction<'_, Postgres>,
        _orders: &Idempotency<Postgres>,
    ) -> Result<Receipt, Error> {
        sqlx::query("INSERT INTO orders (id, total) VALUES ($1, $2)")
            .bind(&event.payload.order_id)
            .bind(event.payload.total)
            .execute(&mut **tx)
            .await?;
        Ok(Receipt {
            order_id: event.payload.order_id,
        })
    }
}

#[allow(dead_code)]
mod a_state_of_ones_own_and_a_payload {
    use super::{Db, Error, Order, Receipt, Sqlite, Transaction, setup_db};

    #[lambda_thaw::handler(init = setup_db, idempotent(key = "/order_id", key = "/total"))]
    pub async fn handle(
        order: Order,
        db: &Db,
        tx: &mut Transaction<'_, Sqlite>,
    ) -> Result<Receipt, Error> {
        let _ = &db.orders;
        sqlx::query("INSERT INTO orders (id) VALUES (?)")
            .bind(&order.order_id)
            .execute(&mut **tx)
            .await?;
        Ok(Receipt {
            order_id: order.order_id,
        })
    }
}

pub async fn setup_any() -> Result<Idempotency<Any>, Error> {
    sqlx::any::install_default_drivers();
    let pool = lambda_thaw::sqlx::connect::<Any>(&std::env::var("DATABASE_URL")?).await?;
    Ok(Idempotency::new(pool)?)
}

#[allow(dead_code)]
mod one_build_for_every_database {
    use super::{Any, Error, Idempotency, LambdaEvent, Order, Receipt, Transaction, setup_any};

    #[lambda_thaw::handler(init = setup_any, idempotent(key = "/order_id"))]
    pub async fn handle(
        event: LambdaEvent<Order>,
        tx: &mut Transaction<'_, Any>,
        _orders: &Idempotency<Any>,
    ) -> Result<Receipt, Error> {
        sqlx::query("INSERT INTO orders (id) VALUES ('x')")
            .execute(&mut **tx)
            .await?;
        Ok(Receipt {
            order_id: event.payload.order_id,
        })
    }
}

fn main() {}
