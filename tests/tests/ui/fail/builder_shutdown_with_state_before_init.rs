// A shutdown hook given before `.init(…)`: one error, at the hook, in our words.
use lambda_thaw::{Builder, Error, LambdaEvent};

struct Db;

async fn setup() -> Result<Db, Error> {
    Ok(Db)
}

async fn close(_db: &'static Db) {}

async fn handle(event: LambdaEvent<serde_json::Value>, _: &'static Db) -> Result<serde_json::Value, Error> {
    Ok(event.payload)
}

fn main() -> std::process::ExitCode {
    Builder::new().shutdown(close).init("setup", setup).run(handle)
}
