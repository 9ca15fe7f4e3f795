//! Generated code uses absolute paths only: strict lints, user modules named `core`,
//! `std` and `lambda_thaw`, and shadowed prelude names do not break it.
#![deny(unused_qualifications, unused_imports, unreachable_pub, missing_docs)]

#[allow(dead_code)]
mod function {
    mod core {}
    mod std {}
    mod lambda_thaw {}
    type Result = ();
    type Option = ();
    type Box = ();
    type String = ();

    struct State;

    fn setup() -> State {
        State
    }

    /// Doc comments and attributes on the handler are kept.
    #[::lambda_thaw::handler(init = setup, shutdown = close)]
    #[inline(never)]
    async fn handle(
        _event: ::lambda_thaw::LambdaEvent<()>,
        _state: &State,
    ) -> ::core::result::Result<(), ::lambda_thaw::Error> {
        ::core::result::Result::Ok(())
    }

    fn close(_state: &State) {}
}

#[cfg(any())]
mod gated_out {
    // A `#[cfg]`-gated handler expands to nothing.
    #[lambda_thaw::handler]
    async fn handle(_event: lambda_thaw::LambdaEvent<()>) -> Result<(), lambda_thaw::Error> {
        Ok(())
    }
}

fn main() {}
