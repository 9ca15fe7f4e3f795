// `deadline_margin` and `shutdown` (sync and async hooks, `()` or `Result`).
use lambda_thaw::{Error, LambdaEvent};

pub struct Pool;

async fn setup() -> Result<Pool, Error> {
    Ok(Pool)
}

async fn close_async(_pool: &Pool) {}

fn close_sync(_pool: &Pool) -> Result<(), std::io::Error> {
    Ok(())
}

#[allow(dead_code)]
mod async_hook {
    use super::{Error, LambdaEvent, Pool, close_async, setup};

    #[lambda_thaw::handler(init = setup, shutdown = close_async, deadline_margin = "2s")]
    pub async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
        Ok(())
    }
}

#[allow(dead_code)]
mod sync_hook {
    use super::{Error, LambdaEvent, Pool, close_sync, setup};

    #[lambda_thaw::handler(init = setup, shutdown = close_sync, deadline_margin = "0")]
    pub async fn handle(_event: LambdaEvent<()>, _pool: &Pool) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
