use lambda_thaw::metrics::{counter, histogram};
use lambda_thaw::{Error, LambdaEvent, handler};

struct Db;

fn setup() -> Db {
    Db
}

// CloudWatch metrics on, and the `metrics` crate's macros through lambda-thaw's re-export.
#[handler(init = setup, metrics = "Shop/Orders")]
async fn handle(event: LambdaEvent<Vec<u32>>, _db: &Db) -> Result<usize, Error> {
    counter!("orders").increment(1);
    histogram!("basket_size", "channel" => "web").record(event.payload.len() as f64);
    Ok(event.payload.len())
}
