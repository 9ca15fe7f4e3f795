//! A function built with lambda-thaw, end to end through the emulator: one test binary (one
//! link) for every subject below; each module says what it shows.

mod deployable;
mod handler;
mod idempotency;
mod layers;
mod metrics;
mod runtime_api;
mod shutdown;
mod survives;
