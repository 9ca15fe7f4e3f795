use lambda_thaw::{Context, Error, handler};

#[handler]
async fn handle(context: Context) -> Result<(), Error> {
    let _ = context;
    Ok(())
}
