use lambda_thaw::{Error, LambdaEvent, handler};

#[handler(lazy)]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
