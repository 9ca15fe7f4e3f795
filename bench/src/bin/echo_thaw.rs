//! Benchmark fixture: a trivial handler with a state, through `#[handler]`.

use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::{Value, json};

struct Greeting(String);

fn setup() -> Greeting {
    Greeting("hello".into())
}

#[handler(init = setup)]
async fn handle(event: LambdaEvent<Value>, greeting: &Greeting) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload, "greeting": greeting.0 }))
}
