//! One execution environment: a function process, its API server, and Lambda's lifecycle
//! around them (cold start on demand, freeze between invocations, deadline, shutdown).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use crate::config::FunctionConfig;
use crate::logs::{Logs, Stream};
use crate::outcome::{
    FunctionError, InitReport, InvocationRecord, Outcome, ProcessEnd, ShutdownReport,
};
use crate::process::{Process, describe};
use crate::server::ApiServer;
use crate::state::{Dispatch, Shared};

/// One running process and everything that lives exactly as long as it.
struct Instance {
    shared: Arc<Shared>,
    process: Process,
    generation: u64,
    init: InitReport,
    /// Invocations in flight and whether the process is stopped; one lock so a freeze
    /// can never race a thaw.
    freezer: Mutex<(usize, bool)>,
    server: ApiServer,
}

impl Instance {
    fn begin(&self) {
        let mut state = self.freezer.lock().unwrap();
        state.0 += 1;
        if state.1 {
            self.process.thaw();
            state.1 = false;
        }
    }

    fn end(&self, freeze: bool) {
        let mut state = self.freezer.lock().unwrap();
        state.0 -= 1;
        if state.0 == 0 && freeze && !state.1 {
            self.process.freeze();
            state.1 = true;
        }
    }

    fn idle_freeze(&self) {
        let mut state = self.freezer.lock().unwrap();
        if state.0 == 0 && !state.1 {
            self.process.freeze();
            state.1 = true;
        }
    }
}

/// An execution environment of one function, started on demand.
///
/// `invoke` cold-starts the process when none is running (Lambda's INIT phase), hands the
/// event to the runtime, waits until the invocation is complete, then freezes the process
/// until the next one. An invocation past its deadline, or a crash, kills the process;
/// the next `invoke` starts a new one.
pub struct Environment {
    config: Arc<FunctionConfig>,
    index: usize,
    logs: Logs,
    slot: tokio::sync::Mutex<Option<Arc<Instance>>>,
    generations: AtomicU64,
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(1);

pub(crate) fn new_request_id() -> String {
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id())
}

impl Environment {
    /// An environment for `config`; nothing runs until [`Environment::start`] or
    /// [`Environment::invoke`].
    pub fn new(config: FunctionConfig) -> Self {
        Self::in_fleet(Arc::new(config), 0)
    }

    pub(crate) fn in_fleet(config: Arc<FunctionConfig>, index: usize) -> Self {
        let echo = config.echo_output.clone();
        Self {
            config,
            index,
            logs: Logs::new(echo),
            slot: tokio::sync::Mutex::new(None),
            generations: AtomicU64::new(0),
        }
    }

    /// This environment's index in its fleet (0 for one on its own).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The function's output so far, across restarts.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// How many times a process was started (cold starts, including failed ones).
    pub fn starts(&self) -> u64 {
        self.generations.load(Ordering::SeqCst)
    }

    /// The running process's pid now, without waiting: `None` while it is being started
    /// or shut down, or when none runs.
    pub fn pid_now(&self) -> Option<u32> {
        let slot = self.slot.try_lock().ok()?;
        slot.as_ref().map(|i| i.process.pid())
    }

    /// The running process's pid, if one is running.
    pub async fn pid(&self) -> Option<u32> {
        self.slot.lock().await.as_ref().map(|i| i.process.pid())
    }

    /// Where the running process's Runtime and Extensions APIs listen, to speak to them
    /// directly (tests of the emulator's own rules).
    pub async fn runtime_api(&self) -> Option<std::net::SocketAddr> {
        self.slot.lock().await.as_ref().map(|i| i.server.addr)
    }

    /// Names of the extensions registered by the running process.
    pub async fn extensions(&self) -> Vec<String> {
        match self.slot.lock().await.as_ref() {
            Some(instance) => instance
                .shared
                .lock()
                .extensions
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Makes the running process's Runtime API answer every `GET next` with `status` for
    /// `period`, the poll waiting now included: a Runtime API that stalls (cargo-lambda
    /// answers an idle poll with 408). Events invoked meanwhile wait, and are handed out
    /// once it serves again. Returns at once; nothing happens without a process.
    pub async fn fail_polls(&self, status: u16, period: Duration) {
        if let Some(instance) = self.slot.lock().await.as_ref() {
            instance.shared.lock().failing_polls =
                Some((std::time::Instant::now() + period, status));
            instance.shared.bump();
        }
    }

    /// How many `GET next` of the running process were failed on purpose ([`fail_polls`](Self::fail_polls)).
    pub async fn failed_polls(&self) -> u64 {
        match self.slot.lock().await.as_ref() {
            Some(instance) => instance.shared.lock().failed_polls,
            None => 0,
        }
    }

    /// Starts the environment if it is not running and waits for init to finish.
    /// Returns the init report of the running process.
    pub async fn start(&self) -> Result<InitReport, FunctionError> {
        self.acquire()
            .await
            .map(|(instance, _)| instance.init.clone())
    }

    /// Returns the running instance, cold-starting one if needed; the report is
    /// `Some` when this call did the cold start.
    async fn acquire(&self) -> Result<(Arc<Instance>, Option<InitReport>), FunctionError> {
        let mut slot = self.slot.lock().await;
        if let Some(instance) = slot.as_ref()
            && instance.process.exited().is_none()
        {
            return Ok((instance.clone(), None));
        }
        *slot = None;
        let instance = Arc::new(self.cold_start().await?);
        if self.config.freeze {
            instance.idle_freeze();
        }
        let report = instance.init.clone();
        *slot = Some(instance.clone());
        Ok((instance, Some(report)))
    }

    async fn cold_start(&self) -> Result<Instance, FunctionError> {
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let shared = Arc::new(Shared::new(self.config.function_name.clone()));
        let prefix = self.config.api_prefix.clone().unwrap_or_default();
        let server = ApiServer::start(shared.clone(), prefix.clone())
            .await
            .map_err(|e| {
                FunctionError::new("Emulator.Error", format!("cannot bind API server: {e}"))
            })?;
        let runtime_api = match &self.config.api_prefix {
            Some(prefix) => format!("http://{}{prefix}", server.addr),
            None => server.addr.to_string(),
        };
        let started_at = SystemTime::now();
        let started = Instant::now();
        let process = Process::spawn(&self.config, &runtime_api, generation, &self.logs)
            .map_err(|e| FunctionError::new("Runtime.InvalidEntrypoint", e.to_string()))?;

        let mut changes = shared.subscribe();
        let mut exit = process.exit_watch();
        let give_up = started + self.config.init_timeout;
        loop {
            // Decide under the lock, act after it: a guard must not live across an await.
            let state = {
                let inner = shared.lock();
                match inner.init_error.clone() {
                    Some(error) => Err(error),
                    None => Ok(inner.init_done().then(|| inner.first_next_at)),
                }
            };
            match state {
                Err(error) => {
                    // Lambda lets the runtime exit by itself after its report.
                    process.wait_exit(Duration::from_secs(1)).await;
                    return Err(error);
                }
                Ok(Some(first_next_at)) => {
                    let duration = first_next_at
                        .and_then(|t| t.duration_since(started_at).ok())
                        .unwrap_or_default();
                    return Ok(Instance {
                        shared,
                        process,
                        generation,
                        init: InitReport {
                            started_at,
                            duration,
                        },
                        freezer: Mutex::new((0, false)),
                        server,
                    });
                }
                Ok(None) => {}
            }
            if let Some(status) = process.exited() {
                // Give the output readers a moment to drain what the process printed last.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Err(FunctionError::new(
                    "Runtime.ExitError",
                    self.exit_message(status, generation, "before asking for its first event"),
                ));
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = exit.changed() => {}
                _ = tokio::time::sleep_until(give_up) => {
                    return Err(FunctionError::new(
                        "Runtime.InitTimeout",
                        format!(
                            "the function did not ask for its first event (GET /runtime/invocation/next) within {} ms of starting",
                            self.config.init_timeout.as_millis()
                        ),
                    ));
                }
            }
        }
    }

    fn exit_message(
        &self,
        status: std::process::ExitStatus,
        generation: u64,
        when: &str,
    ) -> String {
        let how = match describe(status) {
            ProcessEnd::Exited(code) => format!("exit status {code}"),
            ProcessEnd::Signaled(sig) => format!("signal {sig}"),
            ProcessEnd::AlreadyGone => "unknown status".into(),
        };
        let last = self
            .logs
            .lines()
            .into_iter()
            .rev()
            .find(|l| {
                l.generation == generation
                    && l.stream == Stream::Stderr
                    && !l.text.trim().is_empty()
            })
            .map(|l| format!("; last output: {}", l.text.trim()))
            .unwrap_or_default();
        format!("Runtime exited with error: {how} {when}{last}")
    }

    /// Invokes the function with `event` (JSON bytes) and waits until the invocation is
    /// complete, timed out, or the process died.
    pub async fn invoke(&self, event: impl Into<Bytes>) -> InvocationRecord {
        self.invoke_with_headers(event, &[]).await
    }

    /// [`invoke`](Self::invoke), with Runtime API headers of the test's choosing: each
    /// `(name, Some(value))` replaces (or adds) that header of `GET next`'s answer, each
    /// `(name, None)` leaves it out — to send what a real invoker or local tool may send
    /// (a `Lambda-Runtime-Client-Context` that is not JSON, cargo-lambda's relative
    /// `Lambda-Runtime-Deadline-Ms: 600000`, no request id). The emulator's own deadline
    /// enforcement is unchanged.
    ///
    /// # Panics
    ///
    /// If a name or value cannot be sent in an HTTP header at all (a newline, a space in a
    /// name): the test would otherwise believe it sent what never reached the function.
    pub async fn invoke_with_headers(
        &self,
        event: impl Into<Bytes>,
        headers: &[(&str, Option<&str>)],
    ) -> InvocationRecord {
        self.run_invocation(event.into(), headers, false).await
    }

    /// [`invoke`](Self::invoke), with the answer lost: the environment is killed the
    /// moment the function posts its answer, before its deferred work and before the
    /// caller sees the answer — as when it dies just after its commit (out of memory, a
    /// host failure). The caller gets `Runtime.ExitError`, with `killed_after_response`
    /// set; what the function committed stays committed. At-least-once sources deliver the
    /// event again ([`crate::delivery`]).
    pub async fn invoke_losing_answer(&self, event: impl Into<Bytes>) -> InvocationRecord {
        self.run_invocation(event.into(), &[], true).await
    }

    async fn run_invocation(
        &self,
        event: Bytes,
        headers: &[(&str, Option<&str>)],
        lose_answer: bool,
    ) -> InvocationRecord {
        let mut headers: Vec<_> = headers
            .iter()
            .map(|(name, value)| {
                let parsed = hyper::header::HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|_| panic!("`{name}` cannot be an HTTP header name"));
                let value = value.map(|value| {
                    hyper::header::HeaderValue::from_str(value).unwrap_or_else(|_| {
                        panic!("the value {value:?} of `{name}` cannot be sent in an HTTP header")
                    })
                });
                (parsed, value)
            })
            .collect();
        let invoked_at = SystemTime::now();
        let request_id = new_request_id();
        // Managed Instances tell the invocations in flight together apart by an id of
        // their own, which every answer must carry back.
        let invocation_id = (self.config.max_concurrency > 1).then(|| {
            let id = format!("inv-{request_id}");
            let name = hyper::header::HeaderName::from_static(crate::limits::INVOCATION_ID);
            if !headers.iter().any(|(n, _)| *n == name) {
                headers.push((name, hyper::header::HeaderValue::from_str(&id).ok()));
            }
            id
        });
        if event.len() > crate::limits::MAX_PAYLOAD {
            // Lambda's Invoke API refuses it before any environment sees it.
            let (_, message) = crate::limits::request_entity_too_large();
            return InvocationRecord {
                request_id,
                environment: self.index,
                cold_start: None,
                invoked_at,
                handed_out_at: None,
                responded_at: None,
                completed_at: None,
                deadline: invoked_at + self.config.timeout,
                outcome: Outcome::Error(FunctionError::new(
                    "RequestEntityTooLargeException",
                    message,
                )),
                killed_after_response: false,
                invocation_id: None,
                answered_with_invocation_id: None,
            };
        }
        let (instance, cold_start) = match self.acquire().await {
            Ok(acquired) => acquired,
            Err(error) => {
                return InvocationRecord {
                    request_id,
                    environment: self.index,
                    cold_start: Some(InitReport {
                        started_at: invoked_at,
                        duration: invoked_at.elapsed().unwrap_or_default(),
                    }),
                    invoked_at,
                    handed_out_at: None,
                    responded_at: None,
                    completed_at: None,
                    deadline: invoked_at + self.config.timeout,
                    outcome: Outcome::InitFailed(error),
                    killed_after_response: false,
                    invocation_id: None,
                    answered_with_invocation_id: None,
                };
            }
        };
        instance.begin();
        let deadline = SystemTime::now() + self.config.timeout;
        let deadline_at = Instant::now() + self.config.timeout;
        instance.shared.dispatch(Dispatch {
            trace_id: crate::limits::trace_id(&request_id, deadline),
            request_id: request_id.clone(),
            deadline,
            body: event,
            function_arn: format!(
                "arn:aws:lambda:us-east-1:000000000000:function:{}",
                self.config.function_name
            ),
            headers,
        });

        let mut changes = instance.shared.subscribe();
        let mut exit = instance.process.exit_watch();
        let mut killed_after_response = false;
        let mut crashed = None;
        loop {
            let (answered, done) = {
                let inner = instance.shared.lock();
                let track = inner.tracks.get(&request_id);
                (
                    track.is_some_and(|t| t.outcome.is_some()),
                    track.is_some_and(|t| t.completed_at.is_some()),
                )
            };
            if lose_answer && answered {
                killed_after_response = true;
                self.retire(&instance).await;
                break;
            }
            if done {
                break;
            }
            if let Some(status) = instance.process.exited() {
                crashed = Some(status);
                break;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = exit.changed() => {}
                _ = tokio::time::sleep_until(deadline_at) => {
                    // Lambda's timeout covers the whole invocation, extensions included.
                    let answered = instance.shared.lock().tracks.get(&request_id).is_some_and(|t| t.outcome.is_some());
                    killed_after_response = answered;
                    self.retire(&instance).await;
                    break;
                }
            }
        }

        let track = instance
            .shared
            .lock()
            .tracks
            .remove(&request_id)
            .unwrap_or_default();
        let outcome = match (track.outcome, crashed) {
            (Some(_), _) if lose_answer => Outcome::Crashed(FunctionError::new(
                "Runtime.ExitError",
                "the environment was killed just after the function answered; the answer was lost (as when an environment dies after its commit)",
            )),
            (Some(outcome), _) => outcome,
            (None, Some(status)) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.retire(&instance).await;
                Outcome::Crashed(FunctionError::new(
                    "Runtime.ExitError",
                    self.exit_message(status, instance.generation, "while handling the invocation"),
                ))
            }
            (None, None) => Outcome::Timeout,
        };
        instance.end(self.config.freeze);
        InvocationRecord {
            request_id,
            environment: self.index,
            cold_start,
            invoked_at,
            handed_out_at: track.handed_out_at,
            responded_at: track.responded_at,
            completed_at: track.completed_at,
            deadline,
            outcome,
            killed_after_response,
            invocation_id,
            answered_with_invocation_id: track.answered_with_invocation_id,
        }
    }

    /// Kills `instance` and forgets it, so the next invocation cold-starts.
    async fn retire(&self, instance: &Arc<Instance>) {
        instance.process.signal(Signal::SIGKILL);
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, instance))
        {
            *slot = None;
        }
    }

    /// Shuts the environment down as Lambda does: SHUTDOWN to extensions that asked for
    /// it, SIGTERM when any extension is registered, SIGKILL after the grace period (at
    /// once when there is no extension). `None` if nothing was running.
    pub async fn shutdown(&self) -> Option<ShutdownReport> {
        let instance = self.slot.lock().await.take()?;
        let started = Instant::now();
        instance.process.thaw();
        if instance.process.exited().is_some() {
            return Some(ShutdownReport {
                shutdown_events_sent: 0,
                sigterm_sent: false,
                killed_after_grace: false,
                ended: ProcessEnd::AlreadyGone,
                duration: Duration::ZERO,
            });
        }
        let grace = self.config.shutdown_grace;
        let has_extensions = !instance.shared.lock().extensions.is_empty();
        let sent = instance
            .shared
            .shutdown_extensions("spindown", SystemTime::now() + grace);
        let mut ended = None;
        if has_extensions {
            instance.process.signal(Signal::SIGTERM);
            ended = instance.process.wait_exit(grace).await;
        }
        let killed_after_grace = has_extensions && ended.is_none();
        if ended.is_none() {
            instance.process.signal(Signal::SIGKILL);
            ended = instance.process.wait_exit(Duration::from_secs(5)).await;
        }
        Some(ShutdownReport {
            shutdown_events_sent: sent,
            sigterm_sent: has_extensions,
            killed_after_grace,
            ended: ended.map(describe).unwrap_or(ProcessEnd::AlreadyGone),
            duration: started.elapsed(),
        })
    }
}
