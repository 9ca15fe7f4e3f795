//! Letting a pool's connections come back before the environment may freeze.
//!
//! sqlx gives a connection back to its pool from a task of its own, and pings it on the way
//! (an unbounded round trip, `PoolConnection::return_to_pool`). On a loaded machine that
//! task may not have had its answer when the invocation ends and Lambda freezes the
//! environment. If the path then forgets the connection during the freeze (a NAT gateway
//! drops a flow idle for 350 s, without FIN or RST), the ping never gets its answer: the
//! connection never comes back, the pool stays full, and every later acquire waits out its
//! timeout — measured: the next invocation ended in the deadline guard's error.
//!
//! So after the last invocation in flight (the one after which the environment may be
//! frozen), a pool lambda-thaw connected waits — after the response and the deferred
//! work, off the caller's path, at most [`LIVENESS_TIMEOUT`] — until its connections are
//! back. A warm invocation whose connection is already back pays two atomic loads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Database;

use super::LIVENESS_TIMEOUT;
use crate::lifecycle::taken::last_in_flight;
use crate::lifecycle::upkeep;

/// From now on, after each invocation that leaves the environment idle, waits until
/// `pool`'s connections are back (see the module docs); at shutdown, the same before the
/// hook closes the pool: a connection an invocation cut at shutdown gave back is rolled
/// back and pinged on its way, and closed before it is back, sqlx would send its goodbye
/// behind the rollback and hang up at once (PostgreSQL counts the session abandoned).
pub(crate) fn before_each_freeze<DB: Database>(pool: &sqlx::Pool<DB>) {
    let at_shutdown = pool.clone();
    upkeep::register_before_shutdown(Arc::new(move || {
        Box::pin(wait_for_connections(at_shutdown.clone()))
    }));
    let pool = pool.clone();
    upkeep::register(Arc::new(move || {
        // Decided before a future is made: the warm invocation whose connection is back
        // already (nearly all) pays two atomic loads.
        if all_back(&pool) || !last_in_flight() {
            return Box::pin(std::future::ready(()));
        }
        Box::pin(wait_for_connections(pool.clone()))
    }));
}

/// Whether every connection of `pool` is idle in it (or the pool is closed).
fn all_back<DB: Database>(pool: &sqlx::Pool<DB>) -> bool {
    pool.is_closed() || pool.num_idle() >= pool.size() as usize
}

async fn wait_for_connections<DB: Database>(pool: sqlx::Pool<DB>) {
    if !pool.is_closed() {
        connections_back(&pool, LIVENESS_TIMEOUT).await;
    }
}

/// Waits until every connection of `pool` is idle in it, or `limit` has passed; returns
/// whether they all are.
pub(crate) async fn connections_back<DB: Database>(pool: &sqlx::Pool<DB>, limit: Duration) -> bool {
    let started = Instant::now();
    loop {
        if all_back(pool) {
            return true;
        }
        if started.elapsed() >= limit {
            tracing::debug!(
                out = pool.size() as usize - pool.num_idle(),
                "a connection is still on its way back to the pool"
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::connections_back;

    #[tokio::test]
    async fn waits_for_a_connection_given_back_and_no_longer_than_the_limit() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let held = pool.acquire().await.unwrap();
        let started = std::time::Instant::now();
        assert!(!connections_back(&pool, Duration::from_millis(50)).await);
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(connections_back(&pool, Duration::from_secs(5)).await);
        assert_eq!(pool.num_idle(), 1);
    }
}
