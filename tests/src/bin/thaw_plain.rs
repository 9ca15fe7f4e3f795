//! A `#[handler]` without init: echoes the event.

use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}
