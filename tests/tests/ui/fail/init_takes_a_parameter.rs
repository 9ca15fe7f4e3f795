use lambda_thaw::{Error, LambdaEvent, handler};

struct Pool;

async fn setup(_url: String) -> Result<Pool, Error> {
    Ok(Pool)
}

#[handler(init = setup)]
async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
    Ok(())
}
