use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
async fn handle<T>(_event: LambdaEvent<T>) -> Result<(), Error> {
    Ok(())
}
