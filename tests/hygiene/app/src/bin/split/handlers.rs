//! The handler, at the top of its own file.

use thaw_facade::lambda_thaw::{Error, LambdaEvent, handler};

/// The handler: echoes the event.
#[handler(crate = "::thaw_facade::lambda_thaw")]
async fn echo(event: LambdaEvent<String>) -> ::core::result::Result<String, Error> {
    Ok(event.payload)
}
