//! Re-exports `lambda-thaw` (and `serde`) the way a company's platform crate would, so
//! that `lambda-thaw-hygiene` can use `#[handler]` without depending on `lambda-thaw`
//! itself — through `#[handler(crate = "thaw_facade::lambda_thaw")]`.
#![deny(missing_docs)]

pub use lambda_thaw;
pub use serde;
