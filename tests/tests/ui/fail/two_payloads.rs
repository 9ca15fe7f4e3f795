use lambda_thaw::{Error, handler};

#[handler]
async fn handle(order: String, count: u32) -> Result<(), Error> {
    let _ = (order, count);
    Ok(())
}
