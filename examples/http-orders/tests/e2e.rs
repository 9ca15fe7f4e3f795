//! The HTTP API end to end: API Gateway v2 and ALB request events, through the emulator
//! and the real `lambda_runtime` client, responses asserted in each source's shape.

use lambda_thaw_emulator::{Environment, FunctionConfig, InvocationRecord};
use serde_json::{Value, json};

fn api_gateway_v2(method: &str, path: &str, body: Option<&str>, trace: &str) -> String {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com", "x-amzn-trace-id": trace},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Apr/2020:15:08:21 +0000",
            "timeEpoch": 1587481701067u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

fn alb(method: &str, path: &str, body: Option<&str>, trace: &str) -> String {
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders/abc"}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {},
        "headers": {"content-type": "application/json", "host": "orders.example.com", "x-amzn-trace-id": trace},
        "body": body.unwrap_or(""),
        "isBase64Encoded": false
    })
    .to_string()
}

/// `(status, JSON body)` of an API Gateway or ALB response.
fn http(record: &InvocationRecord) -> (u64, Value) {
    let response = record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("{:?}", record.outcome));
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (response["statusCode"].as_u64().unwrap(), body)
}

async fn create_and_read(
    event: fn(&str, &str, Option<&str>, &str) -> String,
    tag: &str,
    database_url: &str,
) {
    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_http-orders")).env("DATABASE_URL", database_url),
    );
    let order = r#"{"customer":"ana","item":"espresso","quantity":2}"#;
    let created = env
        .invoke(event(
            "POST",
            "/orders",
            Some(order),
            &format!("Root=1-{tag}"),
        ))
        .await;
    let (status, body) = http(&created);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["item"], "espresso");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(
        env.logs()
            .wait_for(
                &format!("audit: order {id} created"),
                std::time::Duration::from_secs(2)
            )
            .await
            .is_some()
    );

    let read = env
        .invoke(event("GET", &format!("/orders/{id}"), None, "Root=1-read"))
        .await;
    assert_eq!(
        http(&read),
        (
            200,
            json!({"id": id, "customer": "ana", "item": "espresso", "quantity": 2})
        )
    );
    let missing = env
        .invoke(event("GET", "/orders/nope", None, "Root=1-x"))
        .await;
    assert_eq!(http(&missing).0, 404);
    let invalid = env
        .invoke(event(
            "POST",
            "/orders",
            Some(r#"{"customer":"x"}"#),
            "Root=1-y",
        ))
        .await;
    let (status, body) = http(&invalid);
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("missing field"),
        "{body}"
    );
    assert!(
        invalid.cold_start.is_none() && read.cold_start.is_none(),
        "one environment served all"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_gateway_v2_creates_and_reads_orders() {
    let (url, file) = lambda_thaw_tests::scratch_sqlite("http-apigw");
    create_and_read(api_gateway_v2, "apigw", &url).await;
    let _ = std::fs::remove_file(file);
}

#[tokio::test(flavor = "multi_thread")]
async fn alb_creates_and_reads_orders() {
    let (url, file) = lambda_thaw_tests::scratch_sqlite("http-alb");
    create_and_read(alb, "alb", &url).await;
    let _ = std::fs::remove_file(file);
}

/// On PostgreSQL the column types are enforced (SQLite ignores `VARCHAR(64)`): an order id
/// taken from a header Lambda rewrites — its trace id is 74 characters — would fail here.
#[tokio::test(flavor = "multi_thread")]
async fn api_gateway_v2_on_postgres_keeps_to_the_column_types() {
    let Some(admin) = lambda_thaw_tests::db::admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let scratch = lambda_thaw_tests::db::PgScratch::create(&admin).await;
    create_and_read(api_gateway_v2, "postgres", &scratch.url).await;
    scratch.drop_database().await;
}
