use std::rc::Rc;
use std::sync::Arc;

use lambda_thaw::{Error, LambdaEvent, handler};

async fn setup() -> Arc<String> {
    let name = Rc::new(String::from("orders"));
    tokio::task::yield_now().await;
    Arc::new(name.to_string())
}

#[handler(init = setup)]
async fn handle(_event: LambdaEvent<()>, _state: &Arc<String>) -> Result<(), Error> {
    Ok(())
}
