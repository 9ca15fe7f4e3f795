//! The per-environment global cell that holds what `init` built.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::emf;
use crate::init::{InitError, catch_init};

/// Holds the state of one execution environment, created once by `init` and shared by
/// every invocation (and every concurrent invocation) of that environment.
///
/// * Single flight: concurrent first callers share one init; the others wait for it —
///   and share its failure too: callers that waited for an attempt that failed get its
///   error at once instead of each trying again, one after another.
/// * A failed init is not cached: the cell stays empty and the next caller (one that
///   arrives after the failure) tries again.
/// * A panic in init is an error like any other; the cell is never poisoned.
///
/// The `#[handler]` macro makes one for the life of the process; hand-written code can
/// declare one as a `static`:
///
/// ```
/// use lambda_thaw::StateCell;
///
/// static CONFIG: StateCell<String> = StateCell::new();
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let value = CONFIG
///     .get_or_init("load_config", || async { Ok(String::from("ready")) })
///     .await?;
/// assert_eq!(value, "ready");
/// # Ok::<(), lambda_thaw::InitError>(())
/// # }).unwrap();
/// ```
pub struct StateCell<S> {
    cell: tokio::sync::OnceCell<S>,
    /// Held while an attempt runs; holds the last failed attempt's error.
    attempt: tokio::sync::Mutex<Option<InitError>>,
    /// How many attempts have failed.
    failures: AtomicU64,
}

impl<S> StateCell<S> {
    /// An empty cell, usable in a `static`.
    pub const fn new() -> Self {
        Self {
            cell: tokio::sync::OnceCell::const_new(),
            attempt: tokio::sync::Mutex::const_new(None),
            failures: AtomicU64::new(0),
        }
    }

    /// The state, if init has succeeded.
    pub fn get(&self) -> Option<&S> {
        self.cell.get()
    }

    /// The state, running `init` first if the cell is empty. `init_name` names the init
    /// in errors.
    pub async fn get_or_init<F, Fut>(&self, init_name: &str, init: F) -> Result<&S, InitError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S, InitError>>,
    {
        if let Some(state) = self.cell.get() {
            return Ok(state);
        }
        let failures_seen = self.failures.load(Ordering::SeqCst);
        let mut last_failure = self.attempt.lock().await;
        if let Some(state) = self.cell.get() {
            return Ok(state);
        }
        if self.failures.load(Ordering::SeqCst) != failures_seen
            && let Some(error) = last_failure.as_ref()
        {
            // An attempt failed while this caller waited for it: share its outcome.
            return Err(error.clone());
        }
        let started = emf::clock();
        match catch_init(init_name, init()).await {
            Ok(state) => {
                emf::duration(emf::names::INIT_DURATION, started);
                Ok(self.cell.get_or_init(|| async { state }).await)
            }
            Err(error) => {
                *last_failure = Some(error.clone());
                self.failures.fetch_add(1, Ordering::SeqCst);
                Err(error)
            }
        }
    }
}

impl<S> Default for StateCell<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn concurrent_first_callers_share_one_init() {
        static CELL: StateCell<usize> = StateCell::new();
        let runs = Arc::new(AtomicUsize::new(0));
        runtime().block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..64 {
                let runs = runs.clone();
                tasks.push(tokio::spawn(async move {
                    *CELL
                        .get_or_init("init", || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(7)
                        })
                        .await
                        .unwrap()
                }));
            }
            for task in tasks {
                assert_eq!(task.await.unwrap(), 7);
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_init_is_retried_by_the_next_caller() {
        let cell: StateCell<u32> = StateCell::new();
        runtime().block_on(async {
            let err = cell
                .get_or_init("setup", || async {
                    Err(InitError {
                        error_type: "x".into(),
                        message: "database down".into(),
                    })
                })
                .await
                .unwrap_err();
            assert_eq!(err.message, "database down");
            assert!(cell.get().is_none());
            assert_eq!(
                *cell.get_or_init("setup", || async { Ok(1) }).await.unwrap(),
                1
            );
        });
    }

    #[test]
    fn waiters_for_a_failing_init_share_its_one_attempt() {
        static CELL: StateCell<u32> = StateCell::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let errors = runtime().block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let runs = runs.clone();
                    tokio::spawn(async move {
                        CELL.get_or_init("setup", || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Err(InitError {
                                error_type: "x".into(),
                                message: "database down".into(),
                            })
                        })
                        .await
                        .unwrap_err()
                    })
                })
                .collect();
            futures_util::future::join_all(tasks).await
        });
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one attempt for eight waiters"
        );
        for error in errors {
            assert_eq!(error.unwrap().message, "database down");
        }
        // A caller arriving after the failure tries again.
        runtime().block_on(async {
            assert_eq!(
                *CELL.get_or_init("setup", || async { Ok(5) }).await.unwrap(),
                5
            );
        });
    }

    #[test]
    fn a_panicking_init_is_an_error_and_does_not_poison() {
        let cell: StateCell<u32> = StateCell::new();
        runtime().block_on(async {
            let err = cell
                .get_or_init("setup", || async { panic!("no config") })
                .await
                .unwrap_err();
            assert_eq!(err.error_type, "lambda_thaw::InitPanic");
            assert!(
                err.message.contains("`setup` panicked: no config"),
                "{}",
                err.message
            );
            assert_eq!(
                *cell.get_or_init("setup", || async { Ok(2) }).await.unwrap(),
                2
            );
        });
    }
}
