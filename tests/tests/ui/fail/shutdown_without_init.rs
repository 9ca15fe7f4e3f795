use lambda_thaw::{Error, LambdaEvent, handler};

fn close() {}

#[handler(shutdown = close)]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}
