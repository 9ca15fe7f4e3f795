use std::cell::RefCell;

use lambda_thaw::{Error, LambdaEvent, handler};

fn setup() -> RefCell<Vec<String>> {
    RefCell::new(Vec::new())
}

#[handler(init = setup)]
async fn handle(_event: LambdaEvent<()>, _seen: &RefCell<Vec<String>>) -> Result<(), Error> {
    Ok(())
}
