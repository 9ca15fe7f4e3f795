use lambda_thaw::{LambdaEvent, handler};

#[handler]
async fn handle(_event: LambdaEvent<()>) {}
