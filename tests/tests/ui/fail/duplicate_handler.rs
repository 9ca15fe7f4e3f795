use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
async fn orders(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}

#[handler]
async fn payments(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
