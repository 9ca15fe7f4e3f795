// Deferred work whose output lambda-thaw cannot report: a number, not `()` or a `Result`.
use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
    lambda_thaw::defer(async { 42 })?;
    Ok(event.payload)
}
