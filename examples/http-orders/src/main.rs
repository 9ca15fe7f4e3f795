//! `http-orders`: an HTTP API behind API Gateway (HTTP API, payload v2) or an Application
//! Load Balancer. `POST /orders` records an order (JSON body) and answers `201` with it;
//! `GET /orders/{id}` reads one back (`404` if unknown). The pool and schema are built
//! once per environment; `DATABASE_URL` picks the database (SQLite in the temp directory
//! when unset). Each created order is audited after the response, with `defer`.

use lambda_thaw::lambda_http::http::{Method, StatusCode};
use lambda_thaw::lambda_http::{Body, Request, RequestExt, Response};
use lambda_thaw::{Error, handler};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyPool};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    customer: String,
    item: String,
    quantity: u32,
}

#[derive(Serialize)]
struct Order {
    id: String,
    customer: String,
    item: String,
    quantity: i64,
}

struct Database {
    pool: AnyPool,
    postgres: bool,
}

impl lambda_thaw::Close for Database {
    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn setup() -> Result<Database, Error> {
    sqlx::any::install_default_drivers();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let file = std::env::temp_dir().join("lambda-thaw-http-orders.db");
        format!("sqlite://{}?mode=rwc", file.display())
    });
    let pool = lambda_thaw::sqlx::connect::<Any>(&url).await?;
    // Safe when many environments cold-start at once (PostgreSQL's `IF NOT EXISTS` races).
    lambda_thaw::sqlx::create_schema(
        &pool,
        "CREATE TABLE IF NOT EXISTS http_orders (
            id VARCHAR(64) PRIMARY KEY,
            customer VARCHAR(200) NOT NULL,
            item VARCHAR(200) NOT NULL,
            quantity BIGINT NOT NULL
        )",
    )
    .await?;
    Ok(Database {
        pool,
        postgres: url.starts_with("postgres"),
    })
}

fn json(status: StatusCode, value: &impl Serialize) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_string(value)?))?)
}

fn problem(status: StatusCode, message: &str) -> Result<Response<Body>, Error> {
    json(status, &serde_json::json!({ "error": message }))
}

#[handler(init = setup)]
async fn handle(request: Request, db: &Database) -> Result<Response<Body>, Error> {
    // The path as the client sent it: behind a REST API, `uri()` also carries the stage
    // (`/prod/orders`).
    let segments: Vec<&str> = request
        .raw_http_path()
        .trim_matches('/')
        .split('/')
        .collect();
    match (request.method(), segments.as_slice()) {
        (&Method::POST, ["orders"]) => {
            let new: NewOrder = match serde_json::from_slice(request.body().as_ref()) {
                Ok(order) => order,
                Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invalid order: {e}")),
            };
            if new.quantity == 0 {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "quantity must be at least 1",
                );
            }
            // The invocation's request id: unique per order. (Not `x-amzn-trace-id`:
            // `lambda_http` overwrites it with Lambda's trace id, which is no order id and
            // longer than the column.)
            let id = request.lambda_context_ref().map_or_else(
                || format!("order-{}", new.customer),
                |c| c.request_id.clone(),
            );
            let insert = if db.postgres {
                "INSERT INTO http_orders (id, customer, item, quantity) VALUES ($1, $2, $3, $4)"
            } else {
                "INSERT INTO http_orders (id, customer, item, quantity) VALUES (?, ?, ?, ?)"
            };
            sqlx::query(insert)
                .bind(&id)
                .bind(&new.customer)
                .bind(&new.item)
                .bind(i64::from(new.quantity))
                .execute(&db.pool)
                .await?;
            let audited = id.clone();
            lambda_thaw::defer(async move { println!("audit: order {audited} created") })?;
            let order = Order {
                id,
                customer: new.customer,
                item: new.item,
                quantity: i64::from(new.quantity),
            };
            json(StatusCode::CREATED, &order)
        }
        (&Method::GET, ["orders", id]) => {
            let select = if db.postgres {
                "SELECT id, customer, item, quantity FROM http_orders WHERE id = $1"
            } else {
                "SELECT id, customer, item, quantity FROM http_orders WHERE id = ?"
            };
            let found: Option<(String, String, String, i64)> = sqlx::query_as(select)
                .bind(*id)
                .fetch_optional(&db.pool)
                .await?;
            match found {
                Some((id, customer, item, quantity)) => json(
                    StatusCode::OK,
                    &Order {
                        id,
                        customer,
                        item,
                        quantity,
                    },
                ),
                None => problem(StatusCode::NOT_FOUND, &format!("no order `{id}`")),
            }
        }
        (_, ["orders", ..]) => problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST /orders or GET /orders/{id}",
        ),
        _ => problem(StatusCode::NOT_FOUND, "no such route"),
    }
}

#[cfg(test)]
mod tests {
    use lambda_thaw::lambda_http::Body;
    use lambda_thaw::testing::{DeferredOutcome, Invocation, Source};

    use super::{Database, handle};

    /// A database of its own per test: an SQLite file in the temp directory.
    async fn database(name: &str) -> &'static Database {
        sqlx::any::install_default_drivers();
        let file = std::env::temp_dir().join(format!(
            "lambda-thaw-http-orders-{name}-{}.db",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&file);
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let pool = lambda_thaw::sqlx::connect::<sqlx::Any>(&url).await.unwrap();
        sqlx::query("CREATE TABLE http_orders (id VARCHAR(64) PRIMARY KEY, customer VARCHAR(200) NOT NULL, item VARCHAR(200) NOT NULL, quantity BIGINT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        Box::leak(Box::new(Database {
            pool,
            postgres: false,
        }))
    }

    fn json(body: &Body) -> serde_json::Value {
        serde_json::from_slice(body.as_ref()).unwrap()
    }

    #[tokio::test]
    async fn an_order_is_created_audited_after_the_response_and_read_back_from_every_source() {
        let db = database("sources").await;
        for source in [
            Source::ApiGatewayV2,
            Source::ApiGatewayV1,
            Source::Alb,
            Source::FunctionUrl,
        ] {
            let post = Invocation::new();
            let request = post.request(
                source,
                "POST",
                "/orders",
                Some(r#"{"customer":"ana","item":"tea","quantity":2}"#),
            );
            let invoked = post.run(handle(request, db)).await;
            // The audit was deferred: it ran after the handler answered, and succeeded.
            assert_eq!(invoked.deferred, vec![DeferredOutcome::Done], "{source:?}");
            let created = invoked.response().unwrap();
            assert_eq!(created.status(), 201, "{source:?}");
            let id = json(created.body())["id"].as_str().unwrap().to_string();
            assert_eq!(
                id,
                post.context().request_id,
                "{source:?}: the order id is the request id"
            );

            let get = Invocation::new();
            let request = get.request(source, "GET", &format!("/orders/{id}"), None);
            let found = get.run(handle(request, db)).await.response().unwrap();
            assert_eq!(found.status(), 200, "{source:?}");
            assert_eq!(json(found.body())["item"], "tea");
        }
    }

    #[tokio::test]
    async fn bad_orders_are_refused_with_the_reason() {
        let db = database("refused").await;
        let invocation = Invocation::new();
        let request = invocation.request(
            Source::ApiGatewayV2,
            "POST",
            "/orders",
            Some(r#"{"customer":"ana","item":"tea","quantity":0}"#),
        );
        let refused = invocation
            .run(handle(request, db))
            .await
            .response()
            .unwrap();
        assert_eq!(refused.status(), 422);
        assert!(
            json(refused.body())
                .to_string()
                .contains("quantity must be at least 1")
        );
    }
}
