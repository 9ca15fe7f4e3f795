// A function without state through `Builder`: no `init`, no `&'static ()` in the handler;
// and, with a shutdown hook, `without_state()` in place of `init`.
use lambda_thaw::{Builder, Error, LambdaEvent};

async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}

fn main() -> std::process::ExitCode {
    // Built, not run: outside Lambda there is no Runtime API to serve.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return std::process::ExitCode::SUCCESS;
    }
    if std::env::var_os("WITH_A_HOOK").is_some() {
        return Builder::new()
            .without_state()
            .shutdown(|_| async { println!("flushed") })
            .run(|event, _| handle(event));
    }
    Builder::new().name("handle").run_without_state(handle)
}
