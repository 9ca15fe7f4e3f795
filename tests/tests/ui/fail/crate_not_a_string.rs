use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(crate = lambda_thaw)]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
