//! The emulator itself — as Lambda, judged by a hand-written `lambda_runtime` function —
//! and its command line. One test binary for the subjects below. (`emulator_fds.rs` stays
//! a binary of its own: it lowers the process's descriptor limit.)

mod cli;
mod delivery;
mod invoke;
mod rules;
mod scaling;
