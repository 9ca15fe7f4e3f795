use lambda_thaw::{Error, LambdaEvent, handler};

struct Order;

#[handler]
async fn handle(_event: LambdaEvent<Order>) -> Result<(), Error> {
    Ok(())
}
