use lambda_thaw::{Error, LambdaEvent, handler};

struct State;
fn setup() -> State { State }

#[handler(init = setup())]
async fn handle(_event: LambdaEvent<()>, _state: &State) -> Result<(), Error> {
    Ok(())
}
