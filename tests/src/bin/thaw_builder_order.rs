//! `lambda_thaw::Builder` with its steps in the "wrong" order: the shutdown hook, and every
//! option, before `init`. The hook must still run at shutdown (and its error be logged).

use std::process::ExitCode;

use lambda_thaw::{Builder, Error, LambdaEvent};
use lambda_thaw_tests::{Command, Fixture};

async fn handle(
    event: LambdaEvent<Command>,
    state: &'static Fixture,
) -> Result<serde_json::Value, Error> {
    lambda_thaw_tests::respond(event, state).await
}

fn main() -> ExitCode {
    Builder::new()
        .shutdown(|_: &'static ()| async {
            println!("shutdown hook given before init ran");
            // Its error is logged, never lost.
            Err::<(), _>("the metrics flush was refused")
        })
        .name("handle")
        .current_thread_runtime()
        .init("setup", lambda_thaw_tests::setup)
        .run(handle)
}
