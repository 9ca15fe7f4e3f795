// An async init returning the state itself.
use lambda_thaw::{Error, LambdaEvent};

pub struct Client;

async fn connect() -> Client {
    Client
}

#[allow(dead_code)]
mod function {
    use super::{Client, Error, LambdaEvent, connect};

    #[lambda_thaw::handler(init = connect)]
    async fn handle(_event: LambdaEvent<serde_json::Value>, _client: &Client) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
