use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(deadline_margin = "half a second")]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
