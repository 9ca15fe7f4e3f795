use lambda_thaw::{Error, LambdaEvent, handler};

struct Db;

fn setup() -> Db {
    Db
}

fn close(_db: Db) {}

#[handler(init = setup, shutdown = close)]
async fn handle(_event: LambdaEvent<()>, _db: &Db) -> Result<(), Error> {
    Ok(())
}
