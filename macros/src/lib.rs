//! The `#[handler]` attribute of [lambda-thaw](https://docs.rs/lambda-thaw). Depend on
//! `lambda-thaw` and write `lambda_thaw::handler`; this crate is its implementation.
//!
//! The pipeline, one file per step: `parse.rs` reads the attribute's options, `check.rs`
//! reports every misuse at the offending token, `model.rs` reads the function into what
//! the expansion needs, `expand.rs` writes the code (and runs the other three).
#![warn(missing_docs, unreachable_pub)]

mod check;
mod expand;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Turns an `async fn` into a Lambda function: see the `lambda-thaw` crate for the options
/// and for the code this generates.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(args.into(), item.into()).into()
}
