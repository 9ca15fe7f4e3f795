use lambda_thaw::{Error, LambdaEvent, handler};

struct Receipt;

#[handler]
async fn handle(_event: LambdaEvent<()>) -> Result<Receipt, Error> {
    Ok(Receipt)
}
