// Two handlers in two modules of one binary: only one could ever run.
mod orders {
    use lambda_thaw::{Error, LambdaEvent, handler};

    #[handler]
    async fn take_order(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
        Ok(event.payload)
    }
}

mod refunds {
    use lambda_thaw::{Error, LambdaEvent, handler};

    #[handler]
    async fn refund(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
        Ok(event.payload)
    }
}

use orders::main;
