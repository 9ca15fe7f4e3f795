// `.run(…)` before `.init(…)`: the handler takes a state nothing builds yet.
use lambda_thaw::{Builder, Error, LambdaEvent};

struct Db;

async fn setup() -> Result<Db, Error> {
    Ok(Db)
}

async fn handle(event: LambdaEvent<serde_json::Value>, _: &'static Db) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}

fn main() -> std::process::ExitCode {
    let _ = setup;
    Builder::new().name("handle").run(handle)
}
