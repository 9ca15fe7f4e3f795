//! `lambda_thaw::Builder` with every option before `init` and the shutdown hook after it
//! (a hook before `init` is a compile error: `tests/ui/fail/builder_shutdown_with_state_before_init.rs`).
//! The hook must run at shutdown, and its error be logged.

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
        .name("handle")
        .current_thread_runtime()
        .early_return(true)
        .init("setup", lambda_thaw_tests::setup)
        .shutdown(|_: &'static Fixture| async {
            println!("shutdown hook after the options ran");
            // Its error is logged, never lost.
            Err::<(), _>("the metrics flush was refused")
        })
        .run(handle)
}
