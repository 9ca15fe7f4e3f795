use lambda_thaw::{Error, LambdaEvent, handler};

struct Pool;
struct Other;

fn setup() -> Pool {
    Pool
}

fn close(_other: &Other) {}

#[handler(init = setup, shutdown = close)]
async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
    Ok(())
}
