//! Where metrics go between their recording and their flush.
//!
//! Each invocation collects its own batch in a task-local (so concurrent invocations of a
//! Managed Instances environment never mix); what is recorded outside any invocation — eager
//! init, a task the handler spawned, a pool's background work — waits in the environment's
//! batch and goes out with the next flush. The flush runs once per invocation, after its
//! response and its deferred work, before the worker asks for the next event: never on the
//! response path, never after the freeze.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::emf::batch::{Batch, Combine};
use crate::emf::document::{Identity, documents};

/// Where documents are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// One line of stdout each: what CloudWatch Logs reads.
    Stdout,
    /// Built and dropped: what the in-process benchmark measures.
    Discard,
}

struct Config {
    identity: Identity,
    output: Output,
}

static CONFIG: OnceLock<Config> = OnceLock::new();
/// What was recorded outside any invocation.
static OUTSIDE: Mutex<Batch> = Mutex::new(Batch::new());
/// Until the first invocation starts.
static COLD: AtomicBool = AtomicBool::new(true);
/// Metric names already warned about (left out of every document).
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

tokio::task_local! {
    static CURRENT: RefCell<Batch>;
}

/// Turns metrics on for this process; `false` if they were on already.
pub(crate) fn enable(identity: Identity, output: Output) -> bool {
    CONFIG.set(Config { identity, output }).is_ok()
}

/// Whether metrics are on.
pub(crate) fn enabled() -> bool {
    CONFIG.get().is_some()
}

/// Records one value in the current invocation's batch (or the environment's, outside
/// one). Nothing when metrics are off.
pub(crate) fn record(
    name: &str,
    dimensions: &[(String, String)],
    unit: &'static str,
    combine: Combine,
    value: f64,
) {
    if !enabled() {
        return;
    }
    let recorded = CURRENT.try_with(|batch| {
        batch
            .borrow_mut()
            .record(name, dimensions, unit, combine, value)
    });
    if recorded.is_err() {
        let mut outside = OUTSIDE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        outside.record(name, dimensions, unit, combine, value);
    }
}

/// Adds `n` to a count.
pub(crate) fn count(name: &str, n: u64) {
    record(name, &[], "Count", Combine::Sum, n as f64);
}

/// The moment a duration to record starts — `None` when metrics are off, so that a
/// function without them reads no clock for them.
pub(crate) fn clock() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Records, in milliseconds, the time since `started` (from [`clock`]).
pub(crate) fn duration(name: &str, started: Option<Instant>) {
    if let Some(started) = started {
        record(
            name,
            &[],
            "Milliseconds",
            Combine::Each,
            started.elapsed().as_secs_f64() * 1000.0,
        );
    }
}

/// Runs `invocation` with a batch of its own.
pub(crate) fn scope<F: Future>(invocation: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(RefCell::new(Batch::new()), invocation)
}

/// `true` the first time it is called in the process: the invocation is a cold start.
pub(crate) fn first_invocation() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// Writes what the current invocation recorded, with what waited outside any invocation.
pub(crate) fn flush() {
    let Some(config) = CONFIG.get() else {
        return;
    };
    let outside = std::mem::take(
        &mut *OUTSIDE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    let current = CURRENT
        .try_with(|current| std::mem::take(&mut *current.borrow_mut()))
        .unwrap_or_default();
    // What waited outside goes first, as it happened first.
    let batch = if outside.is_empty() {
        current
    } else {
        let mut batch = outside;
        batch.absorb(current);
        batch
    };
    if batch.is_empty() {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let (documents, left_out) = documents(&batch, &config.identity, now);
    warn_once(left_out);
    if config.output == Output::Discard {
        return;
    }
    // One write per document, under stdout's lock: each is one line, whole, even with the
    // log lines of other threads around it.
    let mut stdout = std::io::stdout().lock();
    for mut document in documents {
        document.push('\n');
        let _ = stdout.write_all(document.as_bytes());
    }
    let _ = stdout.flush();
}

fn warn_once(left_out: Vec<String>) {
    if left_out.is_empty() {
        return;
    }
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for name in left_out {
        if warned.insert(name.clone()) {
            tracing::warn!(
                metric = %name,
                "metric left out of the EMF documents: its name is a dimension's (FunctionName, \
                 Service or one of its labels); rename it"
            );
        }
    }
}
