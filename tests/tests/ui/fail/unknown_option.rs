use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(timeout = 3)]
async fn handle(event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(event.payload)
}
