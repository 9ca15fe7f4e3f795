//! How long the environment sat idle (and so, on Lambda, frozen) before the current
//! invocation: from the end of the previous invocation to the start of this one.
//!
//! A connection's own idle time is not enough to know it sat through a freeze: sqlx
//! returns a connection to its pool from a spawned task, which may only run *after* the
//! thaw, so a connection can look freshly released although the server closed it while
//! the environment was frozen. The runtime knows better: [`DeferLayer`](crate::DeferLayer)
//! marks the start and end of every invocation.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Microseconds since `BASE` at which the last invocation ended; 0 before the first.
static LAST_END: AtomicU64 = AtomicU64::new(0);
/// The idle gap before the most recently started invocation, in microseconds.
static GAP_BEFORE_CURRENT: AtomicU64 = AtomicU64::new(0);
static BASE: OnceLock<Instant> = OnceLock::new();

fn now_micros() -> u64 {
    let base = BASE.get_or_init(Instant::now);
    base.elapsed().as_micros() as u64 + 1
}

/// Called as an invocation starts.
pub(crate) fn invocation_started() {
    let last = LAST_END.load(Ordering::SeqCst);
    let gap = if last == 0 {
        0
    } else {
        now_micros().saturating_sub(last)
    };
    GAP_BEFORE_CURRENT.store(gap, Ordering::SeqCst);
}

/// Called once an invocation (its deferred work included) is over.
pub(crate) fn invocation_ended() {
    LAST_END.store(now_micros(), Ordering::SeqCst);
}

/// The idle gap before the current invocation (zero outside lambda-thaw's runtime, or
/// before the first invocation ends).
pub fn idle_gap_before_invocation() -> Duration {
    Duration::from_micros(GAP_BEFORE_CURRENT.load(Ordering::SeqCst))
}
