// A `fn main` of the user's shadows the generated one. That is a warning (the build is
// not stopped); denied here so that trybuild records it.
#![deny(deprecated)]

use lambda_thaw::{Error, LambdaEvent, handler};

#[handler]
async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
    Ok(())
}

fn main() {}
