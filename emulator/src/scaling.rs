//! Lambda's scaling, for a function fed by open-loop arrivals: each event arrives at its
//! own time whether or not the function keeps up. An arrival goes to an idle warm
//! environment when there is one (the most recently used, so that the others can age out);
//! otherwise a new environment is started for it, as long as the invocations in flight stay
//! within the function's reserved concurrency and the new environments within Lambda's
//! scaling rate (1,000 every 10 s per function). Beyond either, the invocation is throttled
//! (`TooManyRequestsException`) without reaching any environment. An environment idle for
//! longer than the idle timeout is reclaimed with the SHUTDOWN sequence.
//!
//! (AWS Lambda developer guide, "Lambda scaling behavior": "each synchronously invoked
//! function can scale by 1,000 concurrent executions every 10 seconds"; "Understanding
//! Lambda function scaling": reserved concurrency is the most the function runs at once.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::Instant;

use crate::config::FunctionConfig;
use crate::environment::Environment;
use crate::outcome::{FunctionError, InvocationRecord, Outcome, ShutdownReport};
use crate::timeline::{Lifetime, Sample, Timeline, rss_kib};

/// How Lambda scales one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaling {
    /// The most invocations in flight at once; an arrival beyond it is throttled.
    /// Default 1,000 (an account's default concurrency quota).
    pub reserved_concurrency: usize,
    /// At most this many new environments within any window of this length; an arrival
    /// that would need one more is throttled. Default 1,000 per 10 s (Lambda's rate).
    pub scale_rate: (usize, Duration),
    /// An environment idle for this long is reclaimed (SHUTDOWN, then gone; the next
    /// arrival that needs it is a cold start). Default: never within a run (Lambda keeps
    /// idle environments for minutes, and does not say how many).
    pub idle_timeout: Option<Duration>,
}

impl Default for Scaling {
    fn default() -> Self {
        Self {
            reserved_concurrency: 1000,
            scale_rate: (1000, Duration::from_secs(10)),
            idle_timeout: None,
        }
    }
}

/// Why an arrival was throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The invocations in flight already fill the reserved concurrency.
    ReservedConcurrency,
    /// A new environment was needed and the scaling rate allowed none.
    ScalingRate,
}

impl Throttle {
    /// The error the caller gets, as Lambda's Invoke API words it.
    pub fn error(self) -> FunctionError {
        let reason = match self {
            Throttle::ReservedConcurrency => "ReservedFunctionConcurrentInvocationLimitExceeded",
            Throttle::ScalingRate => "FunctionScalingRateExceeded",
        };
        FunctionError::new(THROTTLED, format!("Rate Exceeded. (Reason: {reason})"))
    }
}

/// The `errorType` of a throttled invocation.
pub const THROTTLED: &str = "TooManyRequestsException";

/// When each event arrives, as offsets from the start of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrivals(pub Vec<Duration>);

impl Arrivals {
    /// `count` arrivals at a steady `per_second`.
    pub fn rate(per_second: f64, count: usize) -> Self {
        Self::ramp(per_second, per_second, count)
    }

    /// `count` arrivals whose rate rises (or falls) evenly from `from` to `to` per second.
    pub fn ramp(from: f64, to: f64, count: usize) -> Self {
        let mut at = Duration::ZERO;
        let mut offsets = Vec::with_capacity(count);
        for i in 0..count {
            offsets.push(at);
            let share = if count > 1 {
                i as f64 / (count - 1) as f64
            } else {
                0.0
            };
            let rate = (from + (to - from) * share).max(f64::MIN_POSITIVE);
            at += Duration::from_secs_f64(1.0 / rate);
        }
        Self(offsets)
    }

    /// One offset in milliseconds per line (blank lines and `#` comments skipped), in any
    /// order; they are sorted.
    pub fn parse(text: &str, source: &str) -> Result<Self, String> {
        let mut offsets = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let ms: f64 = line.parse().ok().filter(|ms: &f64| ms.is_finite() && *ms >= 0.0).ok_or_else(|| {
                format!(
                    "{source}:{}: `{line}` is not an arrival time (milliseconds from the start, e.g. `250` or `12.5`)",
                    n + 1
                )
            })?;
            offsets.push(Duration::from_secs_f64(ms / 1000.0));
        }
        offsets.sort();
        Ok(Self(offsets))
    }
}

/// An environment the router can send work to.
struct Live {
    environment: Arc<Environment>,
    busy: usize,
    idle_since: Instant,
    /// Its last init failed: the next invocation it takes runs init again (a cold
    /// start), so an initialised environment is chosen before it.
    uninitialised: bool,
}

#[derive(Default)]
struct Router {
    live: Vec<Live>,
    /// When each environment of the current scaling window was started.
    started: VecDeque<Instant>,
    in_flight: usize,
    /// Every environment ever started, by index, and when it was started and reclaimed.
    all: Vec<Arc<Environment>>,
    lifetimes: Vec<Lifetime>,
    /// What the sampler read while a run went on.
    samples: Vec<Sample>,
    /// Reclaims under way, and those done.
    reclaiming: Vec<(usize, tokio::task::JoinHandle<Option<ShutdownReport>>)>,
    reclaimed: Vec<(usize, ShutdownReport)>,
}

type Shared = Arc<Mutex<Router>>;

fn lock(router: &Shared) -> std::sync::MutexGuard<'_, Router> {
    router.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts the database server's connections (e.g. from `pg_stat_activity`); `None` when
/// it cannot tell.
pub type ConnectionProbe = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<u64>> + Send>>
        + Send
        + Sync,
>;

/// A function's environments, started and reclaimed the way Lambda scales them.
pub struct ScaledFleet {
    config: Arc<FunctionConfig>,
    scaling: Scaling,
    per_environment: usize,
    router: Shared,
    sampling: Option<(Duration, Option<ConnectionProbe>)>,
}

impl ScaledFleet {
    /// No environment yet: each starts when an arrival needs it.
    pub fn new(config: FunctionConfig, scaling: Scaling) -> Self {
        let per_environment = config.max_concurrency.max(1) as usize;
        Self {
            config: Arc::new(config),
            scaling,
            per_environment,
            router: Shared::default(),
            sampling: None,
        }
    }

    /// While a run goes on, every `interval`: each running environment's resident memory,
    /// and the server's connections as `probe` counts them. They go into the
    /// [`timeline`](Self::timeline).
    pub fn sample_every(mut self, interval: Duration, probe: Option<ConnectionProbe>) -> Self {
        self.sampling = Some((interval.max(Duration::from_millis(10)), probe));
        self
    }

    /// The timeline of `records` (what [`run`](Self::run) returned), in buckets of
    /// `interval`, with what was sampled.
    pub fn timeline(&self, records: &[InvocationRecord], interval: Duration) -> Timeline {
        let router = lock(&self.router);
        Timeline::of(records, &router.lifetimes, &router.samples, interval)
    }

    /// Every environment started so far, by index (reclaimed ones included).
    pub fn environments(&self) -> Vec<Arc<Environment>> {
        lock(&self.router).all.clone()
    }

    /// The environments reclaimed for idleness (by index), with their shutdowns; waits
    /// for the reclaims under way.
    pub async fn reclaimed(&self) -> Vec<(usize, ShutdownReport)> {
        let pending = std::mem::take(&mut lock(&self.router).reclaiming);
        for (index, shutdown) in pending {
            if let Ok(Some(report)) = shutdown.await {
                lock(&self.router).reclaimed.push((index, report));
            }
        }
        lock(&self.router).reclaimed.clone()
    }

    /// Sends event `i` at `arrivals.0[i]` after the start (events without an arrival time
    /// are not sent), and waits for every invocation. `on_record` sees each record as it
    /// completes; records come back in event order, throttled ones included.
    pub async fn run(
        &self,
        events: Vec<Bytes>,
        arrivals: &Arrivals,
        mut on_record: impl FnMut(usize, &InvocationRecord),
    ) -> Vec<InvocationRecord> {
        let start = Instant::now();
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        let send = async move {
            let mut invocations = tokio::task::JoinSet::new();
            for (index, (event, at)) in events.into_iter().zip(&arrivals.0).enumerate() {
                tokio::time::sleep_until(start + *at).await;
                let invoked_at = SystemTime::now();
                match self.route() {
                    Ok(environment) => {
                        let done = done.clone();
                        let router = self.router.clone();
                        invocations.spawn(async move {
                            let record = environment.invoke(event).await;
                            let failed_init = matches!(record.outcome, Outcome::InitFailed(_));
                            release(&router, &environment, failed_init);
                            let _ = done.send((index, record));
                        });
                    }
                    Err(throttle) => {
                        let record = InvocationRecord::throttled(invoked_at, throttle.error());
                        let _ = done.send((index, record));
                    }
                }
                while invocations.try_join_next().is_some() {}
            }
            while invocations.join_next().await.is_some() {}
        };
        let mut results: Vec<Option<InvocationRecord>> = Vec::new();
        let collect = async {
            while let Some((index, record)) = finished.recv().await {
                on_record(index, &record);
                if results.len() <= index {
                    results.resize(index + 1, None);
                }
                results[index] = Some(record);
            }
        };
        tokio::select! {
            _ = async { tokio::join!(send, collect) } => {}
            _ = self.reclaim_idle() => {}
            _ = self.sample() => {}
        }
        results.into_iter().flatten().collect()
    }

    /// One invocation arriving now: an idle environment, a new one, or a throttle — as in
    /// [`run`](Self::run), for event sources that deliver on their own schedule
    /// ([`crate::delivery::deliver_scaled`]). With `lose_answer`, the environment is killed
    /// as its function answers ([`Environment::invoke_losing_answer`]).
    pub async fn invoke(&self, event: Bytes, lose_answer: bool) -> InvocationRecord {
        let invoked_at = SystemTime::now();
        match self.route() {
            Ok(environment) => {
                let record = if lose_answer {
                    environment.invoke_losing_answer(event).await
                } else {
                    environment.invoke(event).await
                };
                let failed_init = matches!(record.outcome, Outcome::InitFailed(_));
                release(&self.router, &environment, failed_init);
                record
            }
            Err(throttle) => InvocationRecord::throttled(invoked_at, throttle.error()),
        }
    }

    /// Picks the environment for an arrival now, starting one if it may.
    fn route(&self) -> Result<Arc<Environment>, Throttle> {
        let now = Instant::now();
        let mut router = lock(&self.router);
        if router.in_flight >= self.scaling.reserved_concurrency {
            return Err(Throttle::ReservedConcurrency);
        }
        let per_environment = self.per_environment;
        // The busiest environment with room, then an initialised one before one whose
        // init failed, then the most recently used: a fleet no larger than it must be,
        // whose spare environments age out, and no arrival sent to a fresh init while a
        // warm environment waits.
        let warm = router
            .live
            .iter_mut()
            .filter(|live| live.busy < per_environment)
            .max_by_key(|live| (live.busy, !live.uninitialised, live.idle_since));
        let environment = match warm {
            Some(live) => {
                live.busy += 1;
                live.environment.clone()
            }
            None => {
                let (limit, window) = self.scaling.scale_rate;
                while router
                    .started
                    .front()
                    .is_some_and(|&at| now.duration_since(at) >= window)
                {
                    router.started.pop_front();
                }
                if router.started.len() >= limit {
                    return Err(Throttle::ScalingRate);
                }
                router.started.push_back(now);
                let index = router.all.len();
                let environment = Arc::new(Environment::in_fleet(self.config.clone(), index));
                router.all.push(environment.clone());
                router.lifetimes.push(Lifetime {
                    started: SystemTime::now(),
                    reclaimed: None,
                });
                router.live.push(Live {
                    environment: environment.clone(),
                    busy: 1,
                    idle_since: now,
                    uninitialised: false,
                });
                environment
            }
        };
        router.in_flight += 1;
        Ok(environment)
    }

    /// Reclaims environments idle past the timeout, for as long as the run lasts.
    async fn reclaim_idle(&self) {
        let Some(timeout) = self.scaling.idle_timeout else {
            return std::future::pending().await;
        };
        let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(100));
        loop {
            tokio::time::sleep(tick).await;
            let now = Instant::now();
            let mut router = lock(&self.router);
            let (idle, live): (Vec<Live>, Vec<Live>) = std::mem::take(&mut router.live)
                .into_iter()
                .partition(|live| live.busy == 0 && now.duration_since(live.idle_since) >= timeout);
            router.live = live;
            for Live { environment, .. } in idle {
                let index = environment.index();
                router.lifetimes[index].reclaimed = Some(SystemTime::now());
                let shutdown = tokio::spawn(async move { environment.shutdown().await });
                router.reclaiming.push((index, shutdown));
            }
        }
    }

    /// Takes a [`Sample`] every sampling interval, for as long as the run lasts.
    async fn sample(&self) {
        let Some((interval, probe)) = self.sampling.clone() else {
            return std::future::pending().await;
        };
        loop {
            let live: Vec<Arc<Environment>> = lock(&self.router)
                .live
                .iter()
                .map(|live| live.environment.clone())
                .collect();
            let rss_kib = live
                .iter()
                .filter_map(|environment| environment.pid_now())
                .filter_map(rss_kib)
                .collect();
            let server_connections = match &probe {
                Some(probe) => probe().await,
                None => None,
            };
            lock(&self.router).samples.push(Sample {
                at: SystemTime::now(),
                rss_kib,
                server_connections,
            });
            tokio::time::sleep(interval).await;
        }
    }

    /// Shuts down every environment still live, in parallel, and waits for the reclaims
    /// under way: the reports of all of them.
    pub async fn shutdown(&self) -> Vec<ShutdownReport> {
        let live: Vec<Arc<Environment>> = std::mem::take(&mut lock(&self.router).live)
            .into_iter()
            .map(|live| live.environment)
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for environment in live {
            tasks.spawn(async move { environment.shutdown().await });
        }
        let mut reports: Vec<ShutdownReport> = self
            .reclaimed()
            .await
            .into_iter()
            .map(|(_, report)| report)
            .collect();
        while let Some(report) = tasks.join_next().await {
            if let Ok(Some(report)) = report {
                reports.push(report);
            }
        }
        reports
    }
}

/// An invocation on `environment` has ended: it has room again.
fn release(router: &Shared, environment: &Arc<Environment>, failed_init: bool) {
    let mut router = lock(router);
    router.in_flight -= 1;
    if let Some(live) = router
        .live
        .iter_mut()
        .find(|live| Arc::ptr_eq(&live.environment, environment))
    {
        live.busy -= 1;
        live.uninitialised = failed_init;
        if live.busy == 0 {
            live.idle_since = Instant::now();
        }
    }
}

impl InvocationRecord {
    /// An invocation Lambda refused before any environment saw it.
    pub(crate) fn throttled(invoked_at: SystemTime, error: FunctionError) -> Self {
        Self {
            request_id: crate::environment::new_request_id(),
            environment: usize::MAX,
            cold_start: None,
            invoked_at,
            handed_out_at: None,
            responded_at: None,
            completed_at: None,
            deadline: invoked_at,
            outcome: Outcome::Throttled(error),
            killed_after_response: false,
            invocation_id: None,
            answered_with_invocation_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_spaces_arrivals_evenly_and_a_ramp_closes_them_up() {
        let steady = Arrivals::rate(100.0, 3);
        assert_eq!(steady.0, [0, 10, 20].map(Duration::from_millis).to_vec());
        let ramp = Arrivals::ramp(10.0, 1000.0, 100);
        let gaps: Vec<Duration> = ramp.0.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps[0], Duration::from_millis(100));
        assert!(gaps.windows(2).all(|w| w[1] <= w[0]), "{gaps:?}");
        assert!(*gaps.last().unwrap() < Duration::from_millis(2));
    }

    #[test]
    fn arrival_files_are_milliseconds_per_line_and_a_bad_line_is_named() {
        let arrivals = Arrivals::parse("# spike\n0\n\n250\n12.5\n", "spike.txt").unwrap();
        assert_eq!(
            arrivals.0,
            vec![
                Duration::ZERO,
                Duration::from_micros(12_500),
                Duration::from_millis(250)
            ]
        );
        let error = Arrivals::parse("0\nsoon\n", "spike.txt").unwrap_err();
        assert!(
            error.starts_with("spike.txt:2: `soon` is not an arrival time"),
            "{error}"
        );
        assert!(Arrivals::parse("-5", "f").is_err());
    }

    #[test]
    fn throttles_say_why_in_lambda_s_words() {
        let error = Throttle::ReservedConcurrency.error();
        assert_eq!(error.error_type, "TooManyRequestsException");
        assert!(
            error
                .error_message
                .contains("ReservedFunctionConcurrentInvocationLimitExceeded")
        );
        assert!(
            Throttle::ScalingRate
                .error()
                .error_message
                .contains("FunctionScalingRateExceeded")
        );
    }
}
