//! The payload-and-context shape: the handler takes its deserialized payload, the
//! invocation's `Context` and the state, recognised by type, in the order it likes.

use lambda_thaw::{Context, Error, handler};
use serde::Deserialize;
use serde_json::{Value, json};

struct Greeting(&'static str);

fn setup() -> Greeting {
    Greeting("hello")
}

#[derive(Deserialize)]
struct Order {
    item: String,
}

#[handler(init = setup)]
async fn handle(greeting: &Greeting, context: Context, order: Order) -> Result<Value, Error> {
    Ok(json!({
        "greeting": greeting.0,
        "item": order.item,
        "request_id": context.request_id,
        "deadline": context.deadline,
        "trace_id": context.xray_trace_id,
        // What the AWS SDKs read: the runtime keeps it current in sequential mode.
        "trace_env": std::env::var("_X_AMZN_TRACE_ID").ok(),
    }))
}
