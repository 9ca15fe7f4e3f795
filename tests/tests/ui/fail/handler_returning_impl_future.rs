// A `fn` returning a future instead of an `async fn`: one error that says to write `async fn`.
use std::future::Future;

use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
fn handle(
    event: LambdaEvent<serde_json::Value>,
) -> impl Future<Output = Result<serde_json::Value, Error>> {
    async move { Ok(event.payload) }
}
