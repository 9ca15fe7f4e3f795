//! Benchmark fixture: `{"defer_ms": N}` defers N ms of work, through `#[handler(early_return = false)]`.

use std::time::Duration;

use lambda_thaw::{Error, LambdaEvent, handler};
use serde_json::Value;

#[handler(early_return = false)]
async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if let Some(ms) = event.payload["defer_ms"].as_u64() {
        lambda_thaw::defer(tokio::time::sleep(Duration::from_millis(ms)))?;
    }
    Ok(event.payload)
}
