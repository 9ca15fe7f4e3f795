use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(metrics = true)]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
