//! A handler defined in a module, beside a user module named like every crate the
//! generated code names; `main` is brought to the crate root with `use`.

use function::main;

mod function {
    use ::std::collections::BTreeMap;

    use ::thaw_facade::lambda_thaw::{Error, LambdaEvent, handler};

    mod core {}
    mod std {}
    mod thaw_facade {}
    #[allow(dead_code)]
    type Result = ();
    #[allow(dead_code)]
    type Option = ();

    /// The handler: says how many fields the event had.
    #[handler(crate = "::thaw_facade::lambda_thaw")]
    async fn count_fields(
        event: LambdaEvent<BTreeMap<::std::string::String, ::std::string::String>>,
    ) -> ::core::result::Result<::std::string::String, Error> {
        ::core::result::Result::Ok(::std::format!("{} field(s)", event.payload.len()))
    }
}
