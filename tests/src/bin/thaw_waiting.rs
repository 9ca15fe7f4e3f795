//! The fixture function through `#[handler(init = lambda_thaw_tests::setup, early_return = false)]`.

use lambda_thaw::{Error, LambdaEvent, handler};
use lambda_thaw_tests::{Command, Fixture};

#[handler(init = lambda_thaw_tests::setup, early_return = false)]
async fn handle(event: LambdaEvent<Command>, state: &Fixture) -> Result<serde_json::Value, Error> {
    lambda_thaw_tests::respond(event, state).await
}
