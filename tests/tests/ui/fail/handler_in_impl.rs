// `#[handler]` on an associated function: the macro is given only the function, so it
// reads the function's source to see the `impl` around it, and says "a free function".
// (The second error is rustc's and true: with the handler in an `impl`, the crate has no
// `main` — a crate-level `main` cannot be generated from inside an `impl`.)
use lambda_thaw::{Error, LambdaEvent, handler};

struct Service;

impl Service {
    #[handler]
    async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
        Ok(())
    }
}
