//! A mistake: `Builder::run` called from inside `#[tokio::main]`. It must say what to do,
//! not panic with tokio's message about nested runtimes.

use std::process::ExitCode;

use lambda_thaw::{Builder, Error, LambdaEvent};

async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> ExitCode {
    Builder::new().name("handle").run_without_state(handle)
}
