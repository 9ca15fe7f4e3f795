// `metrics = "…"`, and the `metrics` crate's macros through lambda-thaw's re-export.
use lambda_thaw::{Error, LambdaEvent};

pub struct Db;

fn setup() -> Db {
    Db
}

#[allow(dead_code)]
mod with_metrics {
    use lambda_thaw::metrics::{counter, histogram};

    use super::{Db, Error, LambdaEvent, setup};

    #[lambda_thaw::handler(init = setup, metrics = "Shop/Orders")]
    pub async fn handle(event: LambdaEvent<Vec<u32>>, _db: &Db) -> Result<usize, Error> {
        counter!("orders").increment(1);
        histogram!("basket_size", "channel" => "web").record(event.payload.len() as f64);
        Ok(event.payload.len())
    }
}

fn main() {}
