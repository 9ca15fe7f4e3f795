use lambda_thaw::{Error, LambdaEvent, handler};

struct Pool;

fn setup() -> Pool {
    Pool
}

fn close(_pool: &Pool) {}

#[handler(init = setup, shutdown = "close")]
async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
    Ok(())
}
