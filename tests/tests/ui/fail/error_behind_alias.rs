use lambda_thaw::{LambdaEvent, handler};

struct Failure;

type OrderResult<T> = std::result::Result<T, Failure>;

#[handler]
async fn handle(_event: LambdaEvent<()>) -> OrderResult<()> {
    Err(Failure)
}
