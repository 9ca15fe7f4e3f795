use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(early_return = "false")]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
