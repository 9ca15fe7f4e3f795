use lambda_thaw::{Error, LambdaEvent, handler};

fn install_tracing(_level: &str) {}

#[handler(tracing = install_tracing)]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    Ok(event.payload)
}
