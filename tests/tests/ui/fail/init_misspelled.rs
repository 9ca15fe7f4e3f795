use lambda_thaw::{Error, LambdaEvent, handler};

pub struct Db;

fn setup() -> Db {
    Db
}

#[handler(int = setup)]
async fn handle(event: LambdaEvent<String>, _db: &Db) -> Result<String, Error> {
    Ok(event.payload)
}
