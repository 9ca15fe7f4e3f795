//! What an invocation, an init and a shutdown produced, as the emulator observed them.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;

/// An error as Lambda reports it: `errorType` and `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionError {
    /// `errorType`, e.g. `&alloc::boxed::Box<dyn core::error::Error>` or `Runtime.ExitError`.
    pub error_type: String,
    /// `errorMessage`.
    pub error_message: String,
}

impl FunctionError {
    pub(crate) fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function posted a response (`/invocation/{id}/response`); the body as posted.
    Response(Bytes),
    /// The function posted an error (`/invocation/{id}/error`).
    Error(FunctionError),
    /// The deadline passed before the function answered; the environment was killed.
    Timeout,
    /// The environment could not be initialised for this invocation (init error report,
    /// exit before the first `next`, or init timeout). Lambda answers the caller with it.
    InitFailed(FunctionError),
    /// The process died while the invocation was in flight (`Runtime.ExitError`).
    Crashed(FunctionError),
    /// Lambda refused the invocation before any environment saw it: the reserved
    /// concurrency was in use, or no new environment could start within the scaling rate
    /// (`TooManyRequestsException`).
    Throttled(FunctionError),
}

impl Outcome {
    /// True for [`Outcome::Response`].
    pub fn is_response(&self) -> bool {
        matches!(self, Outcome::Response(_))
    }

    /// The response body parsed as JSON, or `None` if this is not a response or not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        match self {
            Outcome::Response(body) => serde_json::from_slice(body).ok(),
            _ => None,
        }
    }

    /// The error, for every outcome but a response (a timeout is `Sandbox.Timedout`).
    pub fn error(&self) -> Option<FunctionError> {
        match self {
            Outcome::Response(_) => None,
            Outcome::Error(e)
            | Outcome::InitFailed(e)
            | Outcome::Crashed(e)
            | Outcome::Throttled(e) => Some(e.clone()),
            Outcome::Timeout => Some(FunctionError::new(
                "Sandbox.Timedout",
                "Task timed out: the deadline passed before the function answered",
            )),
        }
    }

    /// A one-line description for tables.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Response(body) => {
                let text = String::from_utf8_lossy(body);
                format!("ok {}", shorten(&text, 60))
            }
            Outcome::Timeout => "timeout".to_string(),
            Outcome::Error(e)
            | Outcome::InitFailed(e)
            | Outcome::Crashed(e)
            | Outcome::Throttled(e) => {
                format!("{}: {}", e.error_type, shorten(&e.error_message, 60))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::Response(_) => "response",
            Outcome::Error(_) => "error",
            Outcome::Timeout => "timeout",
            Outcome::InitFailed(_) => "init_failed",
            Outcome::Crashed(_) => "crashed",
            Outcome::Throttled(_) => "throttled",
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// How an environment's init went, from process start to the first `next`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitReport {
    /// Process start.
    #[serde(serialize_with = "epoch_ms")]
    pub started_at: SystemTime,
    /// Process start → runtime's first `/invocation/next` (and every extension in `next`).
    pub duration: Duration,
}

/// Everything observed about one invocation.
#[derive(Debug, Clone)]
pub struct InvocationRecord {
    /// The request id sent as `lambda-runtime-aws-request-id`.
    pub request_id: String,
    /// Which environment of a fleet served it (0 for a single environment).
    pub environment: usize,
    /// Set when this invocation had to start the environment (a cold start).
    pub cold_start: Option<InitReport>,
    /// When the invocation was submitted to the emulator.
    pub invoked_at: SystemTime,
    /// When the runtime received it (the `next` answer was produced).
    pub handed_out_at: Option<SystemTime>,
    /// When the response or error was posted: what the caller waits for.
    pub responded_at: Option<SystemTime>,
    /// When the runtime and every extension subscribed to INVOKE were back in `next`:
    /// from then on the environment may be frozen.
    pub completed_at: Option<SystemTime>,
    /// The deadline sent as `lambda-runtime-deadline-ms`.
    pub deadline: SystemTime,
    /// How it ended.
    pub outcome: Outcome,
    /// The response was posted but the invocation did not complete before the deadline;
    /// the environment was killed, as Lambda does.
    pub killed_after_response: bool,
    /// The `lambda-runtime-invocation-id` sent with the event: Lambda Managed Instances
    /// (`max_concurrency` above 1) send one; on-demand Lambda does not.
    pub invocation_id: Option<String>,
    /// The `lambda-runtime-invocation-id` the response or error carried back.
    pub answered_with_invocation_id: Option<String>,
}

impl InvocationRecord {
    /// Handout → response or error posted.
    pub fn response_latency(&self) -> Option<Duration> {
        between(self.handed_out_at?, self.responded_at?)
    }

    /// Handout → invocation complete.
    pub fn complete_latency(&self) -> Option<Duration> {
        between(self.handed_out_at?, self.completed_at?)
    }

    /// Submitted → response: what the caller saw, including any cold start.
    pub fn caller_latency(&self) -> Option<Duration> {
        between(self.invoked_at, self.responded_at?)
    }

    /// The record as a JSON object (times in epoch milliseconds, durations in ms).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |t: Option<SystemTime>| t.map(to_epoch_ms);
        let dur = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        serde_json::json!({
            "request_id": self.request_id,
            "environment": self.environment,
            "cold": self.cold_start.is_some(),
            "init_ms": dur(self.cold_start.as_ref().map(|c| c.duration)),
            "invoked_at_ms": to_epoch_ms(self.invoked_at),
            "handed_out_at_ms": ms(self.handed_out_at),
            "responded_at_ms": ms(self.responded_at),
            "completed_at_ms": ms(self.completed_at),
            "response_ms": dur(self.response_latency()),
            "complete_ms": dur(self.complete_latency()),
            "outcome": self.outcome.kind(),
            "response": self.outcome.json().or_else(|| match &self.outcome {
                Outcome::Response(b) => Some(String::from_utf8_lossy(b).into()),
                _ => None,
            }),
            "error": self.outcome.error(),
            "killed_after_response": self.killed_after_response,
        })
    }
}

/// Whether every one of `records` was in flight at the same moment: the last was handed
/// out before the first was answered (what `AWS_LAMBDA_MAX_CONCURRENCY` allows).
pub fn all_in_flight_together(records: &[InvocationRecord]) -> bool {
    let last_handout = records.iter().filter_map(|r| r.handed_out_at).max();
    let first_response = records.iter().filter_map(|r| r.responded_at).min();
    match (last_handout, first_response) {
        (Some(handout), Some(response)) => {
            records.iter().all(|r| r.handed_out_at.is_some()) && handout < response
        }
        _ => false,
    }
}

/// How the function process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ProcessEnd {
    /// It exited by itself with this code.
    Exited(i32),
    /// It was ended by this signal (e.g. 9 after the grace period, 15 if it did not handle SIGTERM).
    Signaled(i32),
    /// It had already ended before the shutdown.
    AlreadyGone,
}

/// What a shutdown did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// Extensions that received a SHUTDOWN event.
    pub shutdown_events_sent: usize,
    /// SIGTERM was sent (Lambda does so only when an extension is registered).
    pub sigterm_sent: bool,
    /// SIGKILL was needed because the process outlived the grace period.
    pub killed_after_grace: bool,
    /// How the process ended.
    pub ended: ProcessEnd,
    /// Time from the start of the shutdown to the process's end.
    pub duration: Duration,
}

pub(crate) fn between(from: SystemTime, to: SystemTime) -> Option<Duration> {
    Some(to.duration_since(from).unwrap_or_default())
}

pub(crate) fn to_epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn epoch_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(to_epoch_ms(*t))
}
