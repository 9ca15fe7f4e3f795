//! The fixture function without the macro: `lambda_thaw::Builder` by hand, its state closed
//! at shutdown through its `Close` impl; `FIXTURE_METRICS=Namespace` turns metrics on.

use std::process::ExitCode;
use std::time::Duration;

use lambda_thaw::{Builder, Close, Error, LambdaEvent};
use lambda_thaw_tests::{Command, Fixture};

struct Closing(Fixture);

impl Close for Closing {
    async fn close(&self) {
        println!("state closed at shutdown");
        // With metrics on, written by the flush at shutdown (no invocation follows).
        lambda_thaw::metrics::counter!("closed_at_shutdown").increment(1);
    }
}

async fn handle(
    event: LambdaEvent<Command>,
    state: &'static Closing,
) -> Result<serde_json::Value, Error> {
    lambda_thaw_tests::respond(event, &state.0).await
}

fn main() -> ExitCode {
    let builder = Builder::new()
        .name("handle")
        .init("setup", || async {
            lambda_thaw_tests::setup().await.map(Closing)
        })
        .deadline_margin(Duration::from_millis(300))
        .close_on_shutdown()
        .current_thread_runtime();
    match std::env::var("FIXTURE_METRICS") {
        Ok(namespace) => builder.metrics(namespace).run(handle),
        Err(_) => builder.run(handle),
    }
}
