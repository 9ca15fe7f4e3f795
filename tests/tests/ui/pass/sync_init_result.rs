// A sync init returning `Result<State, E>` with a std error type.
use lambda_thaw::{Error, LambdaEvent};

pub struct Limits(pub u32);

fn parse_limits() -> Result<Limits, std::num::ParseIntError> {
    "10".parse().map(Limits)
}

#[allow(dead_code)]
mod function {
    use super::{Error, LambdaEvent, Limits, parse_limits};

    #[lambda_thaw::handler(init = parse_limits)]
    async fn handle(_event: LambdaEvent<()>, limits: &Limits) -> Result<u32, Error> {
        Ok(limits.0)
    }
}

fn main() {}
