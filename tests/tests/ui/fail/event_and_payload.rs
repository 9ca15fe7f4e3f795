use lambda_thaw::{Error, LambdaEvent, handler};

#[derive(serde::Deserialize)]
struct Order;

#[handler]
async fn handle(event: LambdaEvent<serde_json::Value>, order: Order) -> Result<(), Error> {
    let _ = (event, order);
    Ok(())
}
