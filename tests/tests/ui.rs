//! Compile-time behaviour of `#[handler]`: every supported shape compiles (`ui/pass`),
//! every misuse is an error at the user's token with the fix in words (`ui/fail`).
//! Refresh expectations with `TRYBUILD=overwrite cargo test -p lambda-thaw-tests --test ui`
//! and read the diff.
//!
//! The expected errors are rustc's text, which changes between releases: they are compared
//! on the toolchain they were written with (`WRITTEN_FOR`, the one `.ci/run` uses), and
//! skipped, with a note, on any other. Moving to a new toolchain: refresh them there and
//! change `WRITTEN_FOR`.

/// The `rustc` release the `.stderr` files were written with.
const WRITTEN_FOR: &str = "1.95";

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    let version = rustc_version();
    if version.starts_with(&format!("{WRITTEN_FOR}.")) {
        cases.compile_fail("tests/ui/fail/*.rs");
    } else {
        // As thiserror and serde do: rustc's words are compared on one toolchain only.
        eprintln!(
            "rustc {version}: the expected errors in ui/fail were written for rustc {WRITTEN_FOR}; they are not compared on this toolchain"
        );
    }
}

/// `rustc --version`'s number (`1.95.0`), from the compiler cargo uses.
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .expect("rustc runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}
