use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
fn handle(event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(event.payload)
}
