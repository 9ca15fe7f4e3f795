// A body still being typed: rustc's own syntax error, nothing from `#[handler]` on top.
use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    let payload = event.;
    Ok(payload)
}
