use lambda_thaw::{Error, handler};

#[handler]
async fn handle(event: impl serde::de::DeserializeOwned) -> Result<(), Error> {
    let _ = event;
    Ok(())
}
