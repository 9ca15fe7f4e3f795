//! The `orders` example written by hand on `lambda_runtime`, as a careful engineer would
//! without lambda-thaw: the pool is built once in `main`, before the runtime loop, and
//! shared with the handler. The baseline for the benchmarks' build-cost comparison.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    customer: String,
    item: String,
    quantity: u32,
    unit_price_cents: i64,
}

#[derive(Serialize)]
struct Receipt {
    order_id: String,
    customer: String,
    item: String,
    quantity: u32,
    total_cents: i64,
    orders_recorded: i64,
}

async fn handle(
    event: LambdaEvent<Order>,
    pool: &AnyPool,
    postgres: bool,
) -> Result<Receipt, Error> {
    let order = event.payload;
    if order.quantity == 0 {
        return Err("an order needs a quantity of at least 1".into());
    }
    let total_cents = order.unit_price_cents * i64::from(order.quantity);
    let order_id = event.context.request_id;
    let insert = if postgres {
        "INSERT INTO orders (id, customer, item, quantity, total_cents) VALUES ($1, $2, $3, $4, $5)"
    } else {
        "INSERT INTO orders (id, customer, item, quantity, total_cents) VALUES (?, ?, ?, ?, ?)"
    };
    let mut transaction = pool.begin().await?;
    sqlx::query(insert)
        .bind(&order_id)
        .bind(&order.customer)
        .bind(&order.item)
        .bind(i64::from(order.quantity))
        .bind(total_cents)
        .execute(&mut *transaction)
        .await?;
    let (orders_recorded,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders")
        .fetch_one(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(Receipt {
        order_id,
        customer: order.customer,
        item: order.item,
        quantity: order.quantity,
        total_cents,
        orders_recorded,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    sqlx::any::install_default_drivers();
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => format!(
            "sqlite://{}?mode=rwc",
            std::env::temp_dir().join("lambda-thaw-orders.db").display()
        ),
    };
    // Once per execution environment, before the first event.
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orders (
            id VARCHAR(64) PRIMARY KEY,
            customer VARCHAR(200) NOT NULL,
            item VARCHAR(200) NOT NULL,
            quantity INTEGER NOT NULL,
            total_cents BIGINT NOT NULL
        )",
    )
    .execute(&pool)
    .await?;
    let postgres = url.starts_with("postgres");
    let pool = &pool;
    lambda_runtime::run(service_fn(move |event| async move {
        handle(event, pool, postgres).await
    }))
    .await
}
