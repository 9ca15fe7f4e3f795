//! Compile-time behaviour of `#[handler]`: every supported shape compiles (`ui/pass`),
//! every misuse is an error at the user's token with the fix in words (`ui/fail`).
//! Refresh expectations with `TRYBUILD=overwrite cargo test -p lambda-thaw-tests --test ui`
//! and read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
