use lambda_thaw::{Error, LambdaEvent, handler};

struct State;

#[handler]
async fn handle(_event: LambdaEvent<()>, _state: &State) -> Result<(), Error> {
    Ok(())
}
