//! What needs the real database servers (PostgreSQL, MariaDB, PgBouncer): one test binary.
//! Its tests run together and beside every other test of the workspace, as `cargo test
//! --workspace` runs them with both database variables set (`.ci/run` does): each works in
//! a scratch database (and user) of its own, and what it counts is its own.

mod idempotency;
mod idempotency_cold_start;
mod lifecycle;
mod metrics;
mod proxy;
mod schema;
mod shutdown_cut;
mod silent;
