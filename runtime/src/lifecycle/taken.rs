//! The invocations this environment has taken from `GET next` and not yet answered.
//!
//! Exactly one answer goes to each invocation, whoever gives it: the innermost service
//! (the handler's reply, `invoke.rs`), the worker (a tower layer that failed or panicked
//! before the invocation was answered, `worker.rs`), or the panic hook of a process built
//! with `panic = "abort"` (`abort.rs`), which answers every invocation in flight before the
//! process dies. Each *claims* the invocation first; only the one whose claim succeeds
//! posts.
//!
//! Shutdown (`shutdown.rs`) waits here for every answer to be posted before it exits, and
//! an invocation learns here how long the environment sat idle (so, on Lambda, possibly
//! frozen) before it was taken.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Nobody has started answering it.
const OPEN: u8 = 0;
/// Its answer is being posted.
const ANSWERING: u8 = 1;
/// Its answer was posted (or refused: either way, Lambda has it).
const ANSWERED: u8 = 2;

/// One invocation taken from `GET next`.
pub(crate) struct Taken {
    pub(crate) request_id: String,
    pub(crate) invocation_id: Option<String>,
    /// How long nothing was taken before it (zero if others were in flight).
    idle_gap: Duration,
    state: AtomicU8,
}

impl Taken {
    /// Claims the right to answer; false if someone else has.
    pub(crate) fn claim(&self) -> bool {
        self.state
            .compare_exchange(OPEN, ANSWERING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The claimed answer has been posted.
    pub(crate) fn answered(&self) {
        self.state.store(ANSWERED, Ordering::SeqCst);
        CHANGED.notify_waiters();
    }

    pub(crate) fn is_answered(&self) -> bool {
        self.state.load(Ordering::SeqCst) == ANSWERED
    }
}

/// The invocations held by the workers, and when the last one was let go.
struct Registry {
    held: Vec<Arc<Taken>>,
    /// When the environment last had nothing in flight; `None`: never yet.
    idle_since: Option<Instant>,
}

static TAKEN: Mutex<Registry> = Mutex::new(Registry {
    held: Vec::new(),
    idle_since: None,
});
static CHANGED: tokio::sync::Notify = tokio::sync::Notify::const_new();

tokio::task_local! {
    static CURRENT: Arc<Taken>;
}

fn taken() -> std::sync::MutexGuard<'static, Registry> {
    TAKEN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds one invocation in the registry until the worker is done with it.
pub(crate) struct Holding(Arc<Taken>);

impl Holding {
    /// Registers an invocation the worker has just taken.
    pub(crate) fn take(request_id: &str, invocation_id: Option<&str>) -> Self {
        let mut registry = taken();
        let idle_gap = match registry.idle_since {
            Some(since) if registry.held.is_empty() => since.elapsed(),
            _ => Duration::ZERO,
        };
        let invocation = Arc::new(Taken {
            request_id: request_id.to_owned(),
            invocation_id: invocation_id.map(str::to_owned),
            idle_gap,
            state: AtomicU8::new(OPEN),
        });
        registry.held.push(invocation.clone());
        Self(invocation)
    }

    /// The invocation held.
    pub(crate) fn invocation(&self) -> &Arc<Taken> {
        &self.0
    }

    /// Runs `future` (the whole service call) with this invocation as the current one, so
    /// that the innermost service can claim it wherever a layer ran it.
    pub(crate) fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.0.clone(), future)
    }
}

impl Drop for Holding {
    /// The worker is done with it (deferred work included), or it was dropped.
    fn drop(&mut self) {
        let mut registry = taken();
        registry.held.retain(|held| !Arc::ptr_eq(held, &self.0));
        if registry.held.is_empty() {
            registry.idle_since = Some(Instant::now());
        }
        drop(registry);
        CHANGED.notify_waiters();
    }
}

/// What the innermost service may do with the invocation it is running.
pub(crate) enum Claim {
    /// Answer it, then call [`Taken::answered`].
    Ours(Arc<Taken>),
    /// Not taken by a worker (`testing`, the benchmarks' in-process path): answer it.
    Untracked,
    /// Someone else answered it already.
    Taken,
}

/// Claims the current invocation for its reply.
pub(crate) fn claim_current() -> Claim {
    match CURRENT.try_with(Arc::clone) {
        Ok(current) if current.claim() => Claim::Ours(current),
        Ok(_) => Claim::Taken,
        Err(_) => Claim::Untracked,
    }
}

/// How long the environment sat idle before the current invocation was taken; zero
/// outside one taken by a worker.
pub(crate) fn current_idle_gap() -> Duration {
    CURRENT
        .try_with(|current| current.idle_gap)
        .unwrap_or_default()
}

/// Whether the current invocation, taken by a worker, is the only one in flight: once it
/// is done the environment is idle, and Lambda may freeze it. False outside an invocation
/// a worker took (`testing`, the benchmarks' in-process path: nothing freezes there).
#[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
pub(crate) fn last_in_flight() -> bool {
    CURRENT.try_with(|_| ()).is_ok() && taken().held.len() <= 1
}

/// Claims every unanswered invocation (the process is about to die); the caller answers them.
pub(crate) fn claim_all() -> Vec<Arc<Taken>> {
    // `try_lock`: the panic this runs after may have come while the lock was held.
    let registry = match TAKEN.try_lock() {
        Ok(registry) => registry,
        Err(std::sync::TryLockError::Poisoned(registry)) => registry.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return Vec::new(),
    };
    registry
        .held
        .iter()
        .filter(|t| t.claim())
        .cloned()
        .collect()
}

/// Waits until every invocation taken has its answer posted, or `limit` has passed;
/// returns how many are still unanswered.
pub(crate) async fn answered_within(limit: Duration) -> usize {
    wait_until(limit, |held| {
        held.iter().filter(|t| !t.is_answered()).count()
    })
    .await
}

/// Waits until the workers are done with every invocation (answers *and* deferred work),
/// or `limit` has passed; returns how many are still held.
pub(crate) async fn finished_within(limit: Duration) -> usize {
    wait_until(limit, |held| held.len()).await
}

async fn wait_until(limit: Duration, left: impl Fn(&[Arc<Taken>]) -> usize) -> usize {
    let give_up = tokio::time::Instant::now() + limit;
    loop {
        let changed = CHANGED.notified();
        if left(&taken().held) == 0 {
            return 0;
        }
        if tokio::time::timeout_at(give_up, changed).await.is_err() {
            return left(&taken().held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry is the process's: these tests take turns.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn one_answer_per_invocation_and_shutdown_waits_for_it() {
        let _turn = SERIAL.lock().await;
        let holding = Holding::take("r-1", Some("i-1"));
        assert_eq!(answered_within(Duration::from_millis(5)).await, 1);
        let claimed = holding.scope(async { claim_current() }).await;
        let Claim::Ours(invocation) = claimed else {
            panic!("the first claim is the handler's")
        };
        assert!(matches!(
            holding.scope(async { claim_current() }).await,
            Claim::Taken
        ));
        assert!(claim_all().iter().all(|t| t.request_id != "r-1"));
        invocation.answered();
        assert_eq!(answered_within(Duration::from_millis(5)).await, 0);
        assert_eq!(finished_within(Duration::from_millis(5)).await, 1);
        drop(holding);
        assert_eq!(finished_within(Duration::from_millis(5)).await, 0);
        assert!(matches!(claim_current(), Claim::Untracked));
    }

    /// The process is aborting: every invocation nobody has answered is claimed, once.
    #[tokio::test]
    async fn an_abort_claims_each_unanswered_invocation_once() {
        let _turn = SERIAL.lock().await;
        let open = Holding::take("r-open", None);
        let answered = Holding::take("r-answered", None);
        assert!(answered.invocation().claim());
        let claimed: Vec<_> = claim_all()
            .iter()
            .map(|t| t.request_id.clone())
            .filter(|id| id.starts_with("r-"))
            .collect();
        assert_eq!(claimed, ["r-open"]);
        assert!(claim_all().iter().all(|t| t.request_id != "r-open"));
        assert!(!open.invocation().claim(), "claimed twice");
    }

    /// Shutdown waits for an answer that comes while it waits.
    #[tokio::test]
    async fn waiting_ends_when_the_last_answer_is_posted() {
        let _turn = SERIAL.lock().await;
        let holding = Holding::take("r-late", None);
        let invocation = holding.invocation().clone();
        assert!(invocation.claim());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            invocation.answered();
        });
        let started = std::time::Instant::now();
        assert_eq!(answered_within(Duration::from_secs(10)).await, 0);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
