use lambda_thaw::{Error, handler};

#[handler]
async fn handle() -> Result<(), Error> {
    Ok(())
}
