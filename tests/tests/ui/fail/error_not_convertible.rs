use lambda_thaw::{LambdaEvent, handler};

struct Failure;

#[handler]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Failure> {
    Err(Failure)
}
