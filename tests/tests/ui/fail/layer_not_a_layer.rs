use lambda_thaw::{Error, LambdaEvent, handler};

fn metrics() -> u32 {
    7
}

#[handler(layer = metrics)]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    Ok(event.payload)
}
