// A sync init returning the state itself.
use lambda_thaw::{Error, LambdaEvent};

pub struct Config {
    pub greeting: String,
}

fn load() -> Config {
    Config { greeting: "hi".into() }
}

#[allow(dead_code)]
mod function {
    use super::{Config, Error, LambdaEvent, load};

    #[lambda_thaw::handler(init = load)]
    async fn handle(_event: LambdaEvent<serde_json::Value>, config: &Config) -> Result<String, Error> {
        Ok(config.greeting.clone())
    }
}

fn main() {}
