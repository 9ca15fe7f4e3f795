// The shape from the README: async init returning `Result<State, Error>`.
use lambda_thaw::{Error, LambdaEvent};

pub struct Pool;

async fn setup() -> Result<Pool, Error> {
    Ok(Pool)
}

#[allow(dead_code)]
mod function {
    use super::{Error, LambdaEvent, Pool, setup};

    #[lambda_thaw::handler(init = setup)]
    async fn handle(event: LambdaEvent<serde_json::Value>, _pool: &Pool) -> Result<serde_json::Value, Error> {
        Ok(event.payload)
    }
}

fn main() {}
