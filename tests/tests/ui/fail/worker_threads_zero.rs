use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(worker_threads = 0)]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    Ok(event.payload)
}
