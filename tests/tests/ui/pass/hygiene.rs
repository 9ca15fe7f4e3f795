// Generated code uses absolute paths only: strict lints, a user `mod core`, and shadowed
// prelude names do not break it.
#![deny(unused_qualifications, unused_imports, unreachable_pub)]

#[allow(dead_code)]
mod function {
    mod core {}
    mod std {}
    type Result = ();
    type Option = ();
    type Box = ();

    struct State;

    fn setup() -> State {
        State
    }

    /// Doc comments and attributes on the handler are kept.
    #[lambda_thaw::handler(init = setup)]
    #[inline(never)]
    async fn handle(
        _event: lambda_thaw::LambdaEvent<()>,
        _state: &State,
    ) -> ::core::result::Result<(), lambda_thaw::Error> {
        ::core::result::Result::Ok(())
    }
}

fn main() {}
