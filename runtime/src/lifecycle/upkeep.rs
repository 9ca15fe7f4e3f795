//! lambda-thaw's own upkeep, run after each invocation's deferred work and before the
//! runtime asks for the next event: never on the response path, never after the freeze,
//! bounded by the deadline like deferred work; and what must be ready before a handler
//! runs. Registered once per environment (in init) by the parts that need it — the
//! connection governor (`sqlx/governor.rs`): after, it gives an idle connection back; before,
//! it reconnects the pool it emptied, with back-off at the connection limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::lifecycle::scope::Work;

/// One piece of upkeep: a future made afresh after each invocation.
pub(crate) type Upkeep = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

static UPKEEP: Mutex<Vec<Upkeep>> = Mutex::new(Vec::new());
static PREPARE: Mutex<Vec<Upkeep>> = Mutex::new(Vec::new());
/// Anything registered at all: a function without a governor (nearly all) pays one atomic
/// load per invocation here, not two locks.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Runs `upkeep` after every invocation from now on.
#[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
pub(crate) fn register(upkeep: Upkeep) {
    UPKEEP
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(upkeep);
    REGISTERED.store(true, Ordering::Release);
}

/// Runs `prepare` before every handler from now on, inside the invocation (its deadline
/// known); it should cost nothing when there is nothing to prepare.
#[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
pub(crate) fn register_before(prepare: Upkeep) {
    PREPARE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(prepare);
    REGISTERED.store(true, Ordering::Release);
}

static BEFORE_SHUTDOWN: Mutex<Vec<Upkeep>> = Mutex::new(Vec::new());

/// Runs `drain` at shutdown, after the invocations are done or cut and before the shutdown
/// hook: what must be back in place for the hook to close it cleanly (a connection on its
/// way back to its pool).
#[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
pub(crate) fn register_before_shutdown(drain: Upkeep) {
    BEFORE_SHUTDOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(drain);
}

/// Runs what was registered to run before the shutdown hook, one after the other.
pub(crate) async fn before_shutdown() {
    let drains: Vec<Upkeep> = BEFORE_SHUTDOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for drain in drains {
        drain().await;
    }
}

/// Runs what must be ready before the handler, one after the other.
pub(crate) async fn prepare() {
    if !REGISTERED.load(Ordering::Acquire) {
        return;
    }
    let prepare: Vec<Upkeep> = PREPARE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for prepare in prepare {
        prepare().await;
    }
}

/// This invocation's upkeep, as deferred work (empty when nothing is registered).
pub(crate) fn work() -> Vec<Work> {
    if !REGISTERED.load(Ordering::Acquire) {
        return Vec::new();
    }
    let upkeep = UPKEEP.lock().unwrap_or_else(|p| p.into_inner());
    upkeep
        .iter()
        .map(|upkeep| {
            let run = upkeep();
            Box::pin(async move {
                run.await;
                None
            }) as Work
        })
        .collect()
}
