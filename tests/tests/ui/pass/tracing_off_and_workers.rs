// No tracing subscriber at all, and a multi-threaded runtime with two workers.
#[allow(dead_code)]
mod function {
    use lambda_thaw::{Error, LambdaEvent};

    #[lambda_thaw::handler(tracing = false, runtime = "multi_thread", worker_threads = 2)]
    async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
        Ok(event.payload)
    }
}

fn main() {}
