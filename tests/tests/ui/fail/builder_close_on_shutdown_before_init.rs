// `.close_on_shutdown()` before `.init(…)`: the builder has no state yet.
use lambda_thaw::{Builder, Error, LambdaEvent};

struct Db;

impl lambda_thaw::Close for Db {
    async fn close(&self) {}
}

async fn setup() -> Result<Db, Error> {
    Ok(Db)
}

async fn handle(event: LambdaEvent<serde_json::Value>, _: &'static Db) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}

fn main() -> std::process::ExitCode {
    Builder::new().close_on_shutdown().init("setup", setup).run(handle)
}
