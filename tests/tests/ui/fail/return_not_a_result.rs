use lambda_thaw::{LambdaEvent, handler};

#[handler]
async fn handle(event: LambdaEvent<String>) -> String {
    event.payload
}
