use std::rc::Rc;

use lambda_thaw::{Error, LambdaEvent, handler};

fn setup() -> Rc<String> {
    Rc::new(String::new())
}

async fn close(_state: &Rc<String>) {}

#[handler(init = setup, shutdown = close)]
async fn handle(_event: LambdaEvent<()>, _state: &Rc<String>) -> Result<(), Error> {
    Ok(())
}
