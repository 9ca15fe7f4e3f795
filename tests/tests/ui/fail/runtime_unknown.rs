use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(runtime = "single_thread")]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    Ok(event.payload)
}
