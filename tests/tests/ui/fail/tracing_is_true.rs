use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(tracing = true)]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    Ok(event.payload)
}
