//! A Lambda function as a team would lay it out: handlers in a library (so they can be
//! unit-tested and shared), each binary a one-line `main`. It uses only lambda-thaw's
//! public API, under strict lints.

pub mod handlers;
pub mod telemetry;
