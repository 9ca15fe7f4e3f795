use lambda_thaw::{Error, LambdaEvent, handler};

struct Pool;

fn setup() -> Pool {
    Pool
}

async fn close() {}

#[handler(init = setup, shutdown = close)]
async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
    Ok(())
}
