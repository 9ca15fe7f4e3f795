use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(runtime = "current_thread", worker_threads = 4)]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    Ok(event.payload)
}
