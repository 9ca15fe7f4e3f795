// Known gap: an attribute macro sees only the function, not that it sits in an `impl`,
// so the generated items (a module, an import, `main`) each fail there. The first error,
// at `#[handler]`, says a module is not supported in an `impl`; the last says `handle` is
// an associated function. The fix: make the handler a free function.
use lambda_thaw::{Error, LambdaEvent, handler};

struct Service;

impl Service {
    #[handler]
    async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
        Ok(())
    }
}
