//! A typed cache with a time to live, for values an environment should refresh now and
//! then: secrets, configuration, feature flags, tokens. Declared as a `static` next to
//! the handler (or held in the state).
//!
//! * **Single flight**: callers that find the value missing or stale share one fetch.
//! * **Failures are never cached**: the next caller fetches again.
//! * **Force refresh** ([`TtlCache::refresh`]) and [`TtlCache::invalidate`].
//! * **Stale-while-refresh** (opt-in): a stale value is served once, and the refresh runs
//!   after the response through [`crate::defer`]; the next caller gets the fresh value.
//! * **Serve stale on error** (opt-in, bounded): if a refresh fails, a value at most
//!   `max_stale` past its TTL is served instead of the error.
//! * **Freeze-aware age**: an entry's age is the larger of the monotonic and the wall-clock
//!   time since it was fetched, so an environment frozen (or snapshot-restored) for an hour
//!   sees its values as an hour old whichever clock the platform paused.
//!
//! ```
//! use std::time::Duration;
//! use lambda_thaw::TtlCache;
//!
//! static FLAGS: TtlCache<Vec<String>> = TtlCache::new(Duration::from_secs(300));
//!
//! async fn load_flags() -> Result<Vec<String>, std::io::Error> {
//!     Ok(vec!["new-checkout".into()])
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let flags = FLAGS.get(load_flags).await?;
//! assert_eq!(flags[0], "new-checkout");
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::lifecycle::defer::defer;
use crate::lifecycle::scope::in_invocation;

/// Where a cache reads the time. [`SystemClock`] in production; tests substitute their own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a clock a `TtlCache` can read",
    label = "a cache's clock must implement `lambda_thaw::Clock`",
    note = "use `lambda_thaw::SystemClock`, or implement `Clock::now` for your test clock (returning a `Stamp` of both clocks)"
)]
pub trait Clock: Send + Sync {
    /// The current time on both clocks.
    fn now(&self) -> Stamp;
}

/// A moment on the monotonic and the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// The monotonic clock.
    pub monotonic: Instant,
    /// The wall clock.
    pub wall: SystemTime,
}

impl Stamp {
    /// Time since `earlier`: the larger of the two clocks' readings (a clock that went
    /// backwards counts as zero).
    pub fn since(&self, earlier: &Stamp) -> Duration {
        let monotonic = self.monotonic.saturating_duration_since(earlier.monotonic);
        let wall = self.wall.duration_since(earlier.wall).unwrap_or_default();
        monotonic.max(wall)
    }
}

/// The real clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Stamp {
        Stamp {
            monotonic: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

static SYSTEM_CLOCK: SystemClock = SystemClock;

struct Entry<T> {
    value: Arc<T>,
    fetched: Stamp,
}

/// A value of type `T`, fetched by an async function and kept for a time to live.
pub struct TtlCache<T> {
    ttl: Duration,
    stale_while_refresh: bool,
    max_stale_on_error: Option<Duration>,
    clock: &'static dyn Clock,
    entry: Mutex<Option<Entry<T>>>,
    /// Single flight: whoever holds it fetches; the others wait, then re-read.
    fetching: tokio::sync::Mutex<()>,
    /// A stale-while-refresh refresh is queued; further stale reads wait for it.
    refresh_queued: AtomicBool,
    /// Successful fetches so far: a waiter that sees it move knows someone fetched for it.
    generation: AtomicU64,
}

/// Shows the options and whether a value is cached, not the value (it may be a secret).
impl<T> std::fmt::Debug for TtlCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.entry.lock().map(|e| e.is_some()).unwrap_or(false);
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("stale_while_refresh", &self.stale_while_refresh)
            .field("max_stale_on_error", &self.max_stale_on_error)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> TtlCache<T> {
    /// An empty cache whose values live for `ttl`. Usable in a `static`.
    pub const fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            stale_while_refresh: false,
            max_stale_on_error: None,
            clock: &SYSTEM_CLOCK,
            entry: Mutex::new(None),
            fetching: tokio::sync::Mutex::const_new(()),
            refresh_queued: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    /// Serve a stale value once and refresh it after the response (via [`crate::defer`]);
    /// outside an invocation the refresh happens at once instead.
    pub const fn stale_while_refresh(mut self) -> Self {
        self.stale_while_refresh = true;
        self
    }

    /// When a refresh fails, serve the stale value if it is at most `max_stale` past its
    /// TTL (the error is logged); past that bound, the error is returned.
    pub const fn serve_stale_on_error(mut self, max_stale: Duration) -> Self {
        self.max_stale_on_error = Some(max_stale);
        self
    }

    /// Reads time from `clock` instead of the system's.
    pub const fn with_clock(mut self, clock: &'static dyn Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The value, fetching it with `fetch` if it is missing or stale.
    pub async fn get<F, Fut, E>(&'static self, fetch: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let stale = match self.read() {
            Read::Fresh(value) => return Ok(value),
            Read::Stale(value) => Some(value),
            Read::Missing => None,
        };
        if let Some(value) = stale
            && self.stale_while_refresh
            && in_invocation()
            && !self.refresh_queued.swap(true, Ordering::SeqCst)
        {
            // Made out here and moved in: however the refresh ends — done, failed, panicked,
            // or dropped unpolled because the invocation hit its deadline — the flag is
            // cleared, and the next stale read can queue a refresh again.
            let queued_flag = QueuedRefresh(&self.refresh_queued);
            let queued = defer(async move {
                let _queued = queued_flag;
                if let Err(error) = self.fetch_now(fetch, true).await {
                    tracing::warn!(%error, "the refresh after the response failed; the stale value stays until a caller fetches again");
                }
            });
            debug_assert!(queued.is_ok(), "checked by in_invocation");
            tracing::debug!("serving a stale value; refreshing after the response");
            return Ok(value);
        }
        // Outside an invocation there is no "after the response": refresh now.
        self.fetch_now(fetch, false).await
    }

    /// Fetches now, whatever the cached value's age (single flight still applies: callers
    /// arriving during the fetch share its result).
    pub async fn refresh<F, Fut, E>(&self, fetch: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        self.fetch_now(fetch, true).await
    }

    /// Stores `value` as freshly fetched (e.g. a value init already had to fetch).
    pub fn set(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        *self.entry.lock().unwrap_or_else(|p| p.into_inner()) = Some(Entry {
            value: value.clone(),
            fetched: self.clock.now(),
        });
        self.generation.fetch_add(1, Ordering::SeqCst);
        value
    }

    /// Forgets the value; the next `get` fetches.
    pub fn invalidate(&self) {
        *self.entry.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The cached value whatever its age, without fetching.
    pub fn peek(&self) -> Option<Arc<T>> {
        self.entry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|e| e.value.clone())
    }

    fn read(&self) -> Read<T> {
        let now = self.clock.now();
        match &*self.entry.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(entry) if now.since(&entry.fetched) < self.ttl => Read::Fresh(entry.value.clone()),
            Some(entry) => Read::Stale(entry.value.clone()),
            None => Read::Missing,
        }
    }

    async fn fetch_now<F, Fut, E>(&self, fetch: F, force: bool) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let asked = self.generation.load(Ordering::SeqCst);
        let _flight = self.fetching.lock().await;
        // Someone else fetched while we waited: share their result.
        if let Some(entry) = &*self.entry.lock().unwrap_or_else(|p| p.into_inner()) {
            let fetched_meanwhile = self.generation.load(Ordering::SeqCst) != asked;
            let fresh = self.clock.now().since(&entry.fetched) < self.ttl;
            if fetched_meanwhile || (!force && fresh) {
                return Ok(entry.value.clone());
            }
        }
        match fetch().await {
            Ok(value) => Ok(self.set(value)),
            Err(error) => {
                if let Some(max_stale) = self.max_stale_on_error
                    && let Some(entry) = &*self.entry.lock().unwrap_or_else(|p| p.into_inner())
                    && self.clock.now().since(&entry.fetched) <= self.ttl + max_stale
                {
                    tracing::warn!(%error, "refresh failed; serving the stale value");
                    return Ok(entry.value.clone());
                }
                Err(error)
            }
        }
    }
}

/// Clears "a refresh is queued" when the queued refresh ends, however it ends.
struct QueuedRefresh(&'static AtomicBool);

impl Drop for QueuedRefresh {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

enum Read<T> {
    Fresh(Arc<T>),
    Stale(Arc<T>),
    Missing,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::lifecycle::defer::run_work;
    use crate::lifecycle::scope::with_queue;

    /// A clock tests move by hand.
    struct ManualClock {
        base: Stamp,
        offset_ms: AtomicU64,
    }

    impl ManualClock {
        fn advance(&self, by: Duration) {
            self.offset_ms
                .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Stamp {
            let offset = Duration::from_millis(self.offset_ms.load(Ordering::SeqCst));
            Stamp {
                monotonic: self.base.monotonic + offset,
                wall: self.base.wall + offset,
            }
        }
    }

    fn manual_clock() -> &'static ManualClock {
        Box::leak(Box::new(ManualClock {
            base: SystemClock.now(),
            offset_ms: AtomicU64::new(0),
        }))
    }

    fn cache(ttl_ms: u64, clock: &'static ManualClock) -> &'static TtlCache<u64> {
        Box::leak(Box::new(
            TtlCache::new(Duration::from_millis(ttl_ms)).with_clock(clock),
        ))
    }

    /// A 1 s TTL cache that serves stale while refreshing after the response.
    fn stale_while_refresh_cache(clock: &'static ManualClock) -> &'static TtlCache<u64> {
        Box::leak(Box::new(
            TtlCache::new(Duration::from_millis(1000))
                .with_clock(clock)
                .stale_while_refresh(),
        ))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap()
    }

    /// A fetch that counts its calls and returns the count.
    fn counting(
        calls: &'static AtomicU64,
    ) -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
        move || std::future::ready(Ok(calls.fetch_add(1, Ordering::SeqCst) + 1))
    }

    fn calls() -> &'static AtomicU64 {
        Box::leak(Box::new(AtomicU64::new(0)))
    }

    #[test]
    fn values_expire_after_their_ttl() {
        let clock = manual_clock();
        let cache = cache(1000, clock);
        let calls = calls();
        runtime().block_on(async {
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 1);
            clock.advance(Duration::from_millis(999));
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 1, "still fresh");
            clock.advance(Duration::from_millis(1));
            assert_eq!(
                *cache.get(counting(calls)).await.unwrap(),
                2,
                "expired at the TTL"
            );
        });
    }

    #[test]
    fn sixty_four_concurrent_callers_share_one_fetch() {
        let clock = manual_clock();
        let cache = cache(1000, clock);
        let fetches = Box::leak(Box::new(AtomicUsize::new(0)));
        runtime().block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    tokio::spawn(cache.get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, String>(42)
                    }))
                })
                .collect();
            for task in tasks {
                assert_eq!(*task.await.unwrap().unwrap(), 42);
            }
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    /// A fresh value is served at once, even while a refresh is fetching its successor: it
    /// does not queue behind the fetch. Concurrent refreshes share one fetch.
    #[test]
    fn fresh_reads_do_not_wait_for_a_refresh_and_refreshes_share_one_fetch() {
        let clock = manual_clock();
        let cache = cache(60_000, clock);
        let fetches = Box::leak(Box::new(AtomicUsize::new(0)));
        let release = Box::leak(Box::new(tokio::sync::Notify::new()));
        runtime().block_on(async {
            assert_eq!(
                *cache.get(|| async { Ok::<_, String>(1) }).await.unwrap(),
                1
            );
            assert_eq!(cache.peek().as_deref(), Some(&1));
            let slow_refresh = || async {
                fetches.fetch_add(1, Ordering::SeqCst);
                release.notified().await;
                Ok::<_, String>(2)
            };
            let first = tokio::spawn(cache.refresh(slow_refresh));
            let second = tokio::spawn(cache.refresh(slow_refresh));
            tokio::time::sleep(Duration::from_millis(20)).await;
            let read = tokio::time::timeout(
                Duration::from_millis(500),
                cache.get(|| async { Ok::<_, String>(99) }),
            )
            .await
            .expect("a fresh read waited for the refresh");
            assert_eq!(*read.unwrap(), 1);
            release.notify_waiters();
            release.notify_one();
            assert_eq!(*first.await.unwrap().unwrap(), 2);
            assert_eq!(*second.await.unwrap().unwrap(), 2);
        });
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "one fetch for two refreshes"
        );
    }

    /// Debug output shows the options and whether a value is cached, never the value (a
    /// cache often holds a password or a token).
    #[test]
    fn debug_shows_the_options_not_the_value() {
        let secrets: &'static TtlCache<String> =
            Box::leak(Box::new(TtlCache::new(Duration::from_secs(60))));
        assert_eq!(
            format!("{secrets:?}"),
            "TtlCache { ttl: 60s, stale_while_refresh: false, max_stale_on_error: None, cached: false, .. }"
        );
        secrets.set("hunter2".to_string());
        let shown = format!("{secrets:?}");
        assert!(
            shown.contains("cached: true") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn a_failed_fetch_is_not_cached() {
        let clock = manual_clock();
        let cache = cache(1000, clock);
        runtime().block_on(async {
            let error = cache
                .get(|| async { Err::<u64, _>("secrets manager down".to_string()) })
                .await;
            assert_eq!(error.unwrap_err(), "secrets manager down");
            assert!(cache.peek().is_none());
            assert_eq!(
                *cache.get(|| async { Ok::<_, String>(7) }).await.unwrap(),
                7
            );
        });
    }

    #[test]
    fn refresh_fetches_even_when_fresh() {
        let clock = manual_clock();
        let cache = cache(60_000, clock);
        let calls = calls();
        runtime().block_on(async {
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 1);
            assert_eq!(*cache.refresh(counting(calls)).await.unwrap(), 2);
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 2);
            cache.invalidate();
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 3);
        });
    }

    #[test]
    fn stale_while_refresh_serves_stale_exactly_once_per_refresh() {
        let clock = manual_clock();
        let cache = stale_while_refresh_cache(clock);
        let calls = calls();
        runtime().block_on(async {
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 1);
            for round in 1..=3u64 {
                clock.advance(Duration::from_millis(1500));
                // One invocation: it is answered with the stale value, and the refresh
                // runs after its response (the defer queue).
                let (served, deferred) = with_queue(cache.get(counting(calls))).await;
                let served = served.unwrap();
                assert_eq!(
                    *served, round,
                    "stale value served to the invocation that found it stale"
                );
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    round,
                    "not refreshed before the response"
                );
                run_work(deferred).await;
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    round + 1,
                    "refreshed after the response"
                );
                // The next invocation gets the fresh value, not the stale one again.
                let (next, _) = with_queue(cache.get(counting(calls))).await;
                assert_eq!(*next.unwrap(), round + 1);
            }
        });
    }

    #[test]
    fn a_dropped_or_failed_refresh_does_not_turn_stale_while_refresh_off() {
        let clock = manual_clock();
        let cache = stale_while_refresh_cache(clock);
        let calls = calls();
        runtime().block_on(async {
            assert_eq!(*cache.get(counting(calls)).await.unwrap(), 1);
            clock.advance(Duration::from_millis(1500));
            // The invocation hits its deadline: its deferred refresh is dropped unpolled.
            let (served, deferred) = with_queue(cache.get(counting(calls))).await;
            assert_eq!(*served.unwrap(), 1);
            drop(deferred);
            // The next stale read queues a refresh again (before the fix: served stale for
            // good, never refreshed).
            let (served, deferred) = with_queue(cache.get(counting(calls))).await;
            assert_eq!(*served.unwrap(), 1);
            assert_eq!(deferred.len(), 1, "a refresh was queued again");
            run_work(deferred).await;
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            // A failing refresh is logged and clears the flag too.
            clock.advance(Duration::from_millis(1500));
            let failing =
                || std::future::ready(Err::<u64, _>("secrets manager throttled".to_string()));
            let (served, deferred) = with_queue(cache.get(failing)).await;
            assert_eq!(*served.unwrap(), 2);
            run_work(deferred).await;
            let (_, deferred) = with_queue(cache.get(counting(calls))).await;
            assert_eq!(deferred.len(), 1, "the failed refresh cleared the flag");
        });
    }

    #[test]
    fn serve_stale_on_error_is_bounded() {
        let clock = manual_clock();
        let cache: &'static TtlCache<u64> = Box::leak(Box::new(
            TtlCache::new(Duration::from_millis(1000))
                .with_clock(clock)
                .serve_stale_on_error(Duration::from_millis(500)),
        ));
        let failing = || async { Err::<u64, _>("timeout".to_string()) };
        runtime().block_on(async {
            assert_eq!(
                *cache.get(|| async { Ok::<_, String>(1) }).await.unwrap(),
                1
            );
            clock.advance(Duration::from_millis(1400));
            assert_eq!(
                *cache.get(failing).await.unwrap(),
                1,
                "within the bound: stale served"
            );
            clock.advance(Duration::from_millis(200));
            assert!(
                cache.get(failing).await.is_err(),
                "past the bound: the error"
            );
        });
    }

    #[test]
    fn age_counts_whichever_clock_moved_across_a_freeze() {
        let before = SystemClock.now();
        // A frozen hour that only the wall clock saw.
        let after = Stamp {
            monotonic: before.monotonic,
            wall: before.wall + Duration::from_secs(3600),
        };
        assert_eq!(after.since(&before), Duration::from_secs(3600));
    }
}
