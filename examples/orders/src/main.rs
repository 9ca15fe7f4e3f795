//! `orders`: records an order and answers with a receipt.
//!
//! `DATABASE_URL` picks the database (`postgres://…`, `mysql://…`, `sqlite://…`); without
//! it, an SQLite file in the temp directory (Lambda's `/tmp`). The pool and the schema are
//! built once per execution environment by `setup`, before the first event; every
//! invocation reuses the pool's one connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lambda_thaw::{Error, LambdaEvent, handler};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyPool};

/// An order as the caller sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    customer: String,
    item: String,
    quantity: u32,
    unit_price_cents: i64,
}

/// What the caller gets back.
#[derive(Serialize, Debug)]
struct Receipt {
    order_id: String,
    customer: String,
    item: String,
    quantity: u32,
    total_cents: i64,
    orders_recorded: i64,
    /// Database connections this environment has opened so far: 1 on a healthy run.
    connections_opened: u64,
}

/// What init builds once per environment.
struct Database {
    pool: AnyPool,
    /// `$1` for PostgreSQL, `?` for MySQL and SQLite.
    postgres: bool,
    connections_opened: Arc<AtomicU64>,
}

/// At shutdown (SIGTERM, within Lambda's grace period) the pool's connections end with a
/// clean disconnect instead of being abandoned when the process is killed.
impl lambda_thaw::Close for Database {
    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn setup() -> Result<Database, Error> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => format!(
            "sqlite://{}?mode=rwc",
            std::env::temp_dir().join("lambda-thaw-orders.db").display()
        ),
    };
    connect(&url).await
}

/// The pool and the schema for `url` (the unit tests give their own).
async fn connect(url: &str) -> Result<Database, Error> {
    sqlx::any::install_default_drivers();
    let connections_opened = Arc::new(AtomicU64::new(0));
    let counter = connections_opened.clone();
    // `lambda_thaw::sqlx::after_connect`, not sqlx's own: it keeps the `ConnectionsOpened`
    // metric that sqlx's would replace.
    let options = lambda_thaw::sqlx::after_connect(
        lambda_thaw::sqlx::pool_options::<Any>(),
        move |_connection, _meta| {
            let opened = counter.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                tracing::info!(opened, "opened a database connection");
                Ok(())
            })
        },
    );
    // The error names the host and the cause, with the password hidden.
    let pool = lambda_thaw::sqlx::connect_with(options, url).await?;
    // Safe when many environments cold-start at once (PostgreSQL's `IF NOT EXISTS` races).
    lambda_thaw::sqlx::create_schema(
        &pool,
        "CREATE TABLE IF NOT EXISTS orders (
            id VARCHAR(64) PRIMARY KEY,
            customer VARCHAR(200) NOT NULL,
            item VARCHAR(200) NOT NULL,
            quantity INTEGER NOT NULL,
            total_cents BIGINT NOT NULL
        )",
    )
    .await?;
    Ok(Database {
        pool,
        postgres: url.starts_with("postgres"),
        connections_opened,
    })
}

// CloudWatch metrics in the `LambdaThawOrders` namespace, written after each response:
// the lifecycle's, and `OrdersRecorded` below.
#[handler(init = setup, metrics = "LambdaThawOrders")]
async fn handle(event: LambdaEvent<Order>, db: &Database) -> Result<Receipt, Error> {
    let order = event.payload;
    if order.quantity == 0 {
        return Err("an order needs a quantity of at least 1".into());
    }
    let total_cents = order.unit_price_cents * i64::from(order.quantity);
    let order_id = event.context.request_id;
    let insert = if db.postgres {
        "INSERT INTO orders (id, customer, item, quantity, total_cents) VALUES ($1, $2, $3, $4, $5)"
    } else {
        "INSERT INTO orders (id, customer, item, quantity, total_cents) VALUES (?, ?, ?, ?, ?)"
    };
    let mut transaction = db.pool.begin().await?;
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
    lambda_thaw::metrics::counter!("OrdersRecorded").increment(1);
    Ok(Receipt {
        order_id,
        customer: order.customer,
        item: order.item,
        quantity: order.quantity,
        total_cents,
        orders_recorded,
        connections_opened: db.connections_opened.load(Ordering::SeqCst),
    })
}

#[cfg(test)]
mod tests {
    use lambda_thaw::testing::Invocation;

    use super::{Database, Order, connect, handle};

    /// A database of its own per test: an SQLite file in the temp directory.
    async fn database(name: &str) -> &'static Database {
        let file = std::env::temp_dir().join(format!(
            "lambda-thaw-orders-unit-{name}-{}.db",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&file);
        let db = connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        Box::leak(Box::new(db))
    }

    fn order(quantity: u32) -> Order {
        Order {
            customer: "ada".into(),
            item: "espresso".into(),
            quantity,
            unit_price_cents: 250,
        }
    }

    #[tokio::test]
    async fn an_order_is_recorded_under_the_invocations_request_id() {
        let db = database("recorded").await;
        let invocation = Invocation::new();
        let request_id = invocation.context().request_id;
        let receipt = invocation
            .run(handle(invocation.event(order(2)), db))
            .await
            .response()
            .unwrap();
        assert_eq!(receipt.order_id, request_id);
        assert_eq!(
            (
                receipt.total_cents,
                receipt.orders_recorded,
                receipt.connections_opened
            ),
            (500, 1, 1)
        );
        let second = Invocation::new();
        let receipt = second
            .run(handle(second.event(order(1)), db))
            .await
            .response()
            .unwrap();
        assert_eq!(
            (receipt.orders_recorded, receipt.connections_opened),
            (2, 1),
            "one connection, reused"
        );
    }

    #[tokio::test]
    async fn an_order_without_quantity_is_refused() {
        let db = database("refused").await;
        let invocation = Invocation::new();
        let error = invocation
            .run(handle(invocation.event(order(0)), db))
            .await
            .response()
            .unwrap_err();
        assert_eq!(error.to_string(), "an order needs a quantity of at least 1");
    }
}
