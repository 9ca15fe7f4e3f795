use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(metrics = "Orders*Prod")]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
