use lambda_thaw::{Error, LambdaEvent, handler};

struct Pool;

fn setup() -> Pool {
    Pool
}

#[handler(init = setup, lazy = "yes")]
async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
    Ok(())
}
