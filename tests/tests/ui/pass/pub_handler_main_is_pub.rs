// A `pub` handler's `main` is `pub` too: what lets a binary use a library's handler as its
// entry point (`use my_lib::handlers::orders::main;`; `tests/open-box` does that across
// crates). Here the generated items must not trip the lints a library denies.
#![deny(missing_docs, unreachable_pub, dead_code)]
//! A library-like crate.

/// Handlers.
pub mod handlers {
    /// The orders function.
    pub mod orders {
        use lambda_thaw::{Error, LambdaEvent};

        /// Echoes the order.
        #[lambda_thaw::handler]
        pub async fn handle(event: LambdaEvent<String>) -> Result<String, Error> {
            Ok(event.payload)
        }
    }
}

/// Not the handler's: this file is compiled as a binary, and runs.
fn main() {
    let _entry: fn() -> _ = handlers::orders::main;
}
