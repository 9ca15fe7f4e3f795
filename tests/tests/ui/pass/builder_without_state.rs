// A function without state through `Builder`: no `init`, no `&'static ()`.
use lambda_thaw::{Builder, Error, LambdaEvent};

async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}

fn main() -> std::process::ExitCode {
    // Built, not run: outside Lambda there is no Runtime API to serve.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return std::process::ExitCode::SUCCESS;
    }
    Builder::new()
        .name("handle")
        .shutdown(|_: &'static ()| async {})
        .run_without_state(handle)
}
