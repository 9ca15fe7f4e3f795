// `lazy` (as a flag and as a bool) and `early_return = false`.
use lambda_thaw::{Error, LambdaEvent};

pub struct State;

async fn setup() -> Result<State, Error> {
    Ok(State)
}

#[allow(dead_code)]
mod flag {
    use super::{Error, LambdaEvent, State, setup};

    #[lambda_thaw::handler(init = setup, lazy)]
    pub async fn handle(_event: LambdaEvent<()>, _state: &State) -> Result<(), Error> {
        Ok(())
    }
}

#[allow(dead_code)]
mod explicit {
    use super::{Error, LambdaEvent, State, setup};

    #[lambda_thaw::handler(init = setup, lazy = false, early_return = false)]
    pub async fn handle(_event: LambdaEvent<()>, _state: &State) -> Result<(), Error> {
        lambda_thaw::defer(async {})?;
        Ok(())
    }
}

fn main() {}
