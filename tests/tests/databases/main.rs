//! What needs the real database servers (PostgreSQL, MariaDB, PgBouncer): one test binary.
//! `.ci/run` runs each module on its own (`idempotency::`, `lifecycle::`, `metrics::`, `proxy::`, `schema::`), as the
//! connection-limit tests must not share the servers with the others.

mod idempotency;
mod idempotency_cold_start;
mod lifecycle;
mod metrics;
mod proxy;
mod schema;
mod silent;
