//! CloudWatch metrics in the Embedded Metric Format (EMF): what the lifecycle knows and what
//! the user's code counts through the `metrics` crate, flushed once per invocation after its
//! response, as JSON lines on stdout that CloudWatch Logs turns into metrics.
//!
//! 1. `batch.rs` — one invocation's values, grouped by dimensions;
//! 2. `document.rs` — a batch as EMF documents, split at the specification's limits;
//! 3. `sink.rs` — the per-invocation batch (a task-local), the environment's batch for what
//!    happens outside an invocation, and the flush;
//! 4. `recorder.rs` — the `metrics` crate's recorder, into the same batches.
//!
//! This module sits at the bottom with `redact`: the loop and the sqlx helpers record into
//! it, and it imports nothing of the crate's own.

mod batch;
mod document;
mod recorder;
mod sink;

pub(crate) use sink::{clock, count, duration, first_invocation, flush, record, scope};

use crate::emf::batch::Combine;
use crate::emf::document::Identity;
use crate::emf::sink::{Output, enable};

/// The lifecycle's metric names, each recorded when metrics are on.
pub(crate) mod names {
    /// 1 on the environment's first invocation.
    pub(crate) const COLD_START: &str = "ColdStart";
    /// How long init took (eager: before the first event; lazy: within the first invocation).
    pub(crate) const INIT_DURATION: &str = "InitDuration";
    /// From the invocation's start to its response posted.
    pub(crate) const INVOCATION_DURATION: &str = "InvocationDuration";
    /// How long the deferred work ran after the response (invocations that deferred any).
    pub(crate) const DEFERRED_DURATION: &str = "DeferredDuration";
    /// 1 for an invocation the deadline guard cancelled.
    pub(crate) const DEADLINE_CANCELLED: &str = "DeadlineCancelled";
    /// 1 for an invocation answered with an error, with an `ErrorType` dimension.
    pub(crate) const ERRORS: &str = "Errors";
    /// Database connections the pool opened.
    #[cfg(feature = "sqlx")]
    pub(crate) const CONNECTIONS_OPENED: &str = "ConnectionsOpened";
    /// Idle connections checked after a gap (a possible freeze) and found alive.
    #[cfg(feature = "sqlx")]
    pub(crate) const CONNECTIONS_REUSED_AFTER_FREEZE: &str = "ConnectionsReusedAfterFreeze";
    /// Idle connections found dead after a gap and replaced before use.
    #[cfg(feature = "sqlx")]
    pub(crate) const CONNECTIONS_REPLACED: &str = "ConnectionsReplaced";
    /// Idle connections the connection governor gave back to a server near its limit.
    #[cfg(feature = "sqlx")]
    pub(crate) const CONNECTIONS_GIVEN_BACK: &str = "ConnectionsGivenBack";
    /// Waits of the back-off at the database's connection limit.
    #[cfg(feature = "sqlx")]
    pub(crate) const CONNECTION_LIMIT_WAITS: &str = "ConnectionLimitWaits";
}

/// Counts an error answer under its `errorType`.
pub(crate) fn error(error_type: &str) {
    record(
        names::ERRORS,
        &[("ErrorType".to_owned(), error_type.to_owned())],
        "Count",
        Combine::Sum,
        1.0,
    );
}

/// Why a namespace cannot be CloudWatch's: empty, longer than 255 characters, or with a
/// character outside letters, digits and `.-_/#:` and space.
pub(crate) fn namespace_problem(namespace: &str) -> Option<String> {
    if namespace.trim().is_empty() {
        return Some(
            "the metrics namespace is empty: name one, e.g. `metrics = \"Orders\"`".into(),
        );
    }
    if namespace.chars().count() > 255 {
        return Some(format!(
            "the metrics namespace is {} characters long; CloudWatch takes at most 255",
            namespace.chars().count()
        ));
    }
    if let Some(bad) = namespace
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " .-_/#:".contains(*c)))
    {
        return Some(format!(
            "the metrics namespace `{namespace}` has `{bad}`; CloudWatch takes letters, digits, \
             spaces and `.-_/#:`"
        ));
    }
    None
}

/// Turns metrics on for this environment: documents in `namespace`, with the function's
/// name and the service (`POWERTOOLS_SERVICE_NAME`, as Powertools reads it, or the
/// function's name) as dimensions, and the `metrics` crate's macros recorded into them.
pub(crate) fn install(namespace: &str, function_name: &str) -> Result<(), String> {
    install_to(namespace, function_name, Output::Stdout)
}

/// As [`install`], the documents built and dropped: what the in-process benchmark costs.
pub(crate) fn install_discarding(namespace: &str, function_name: &str) -> Result<(), String> {
    install_to(namespace, function_name, Output::Discard)
}

fn install_to(namespace: &str, function_name: &str, output: Output) -> Result<(), String> {
    if let Some(problem) = namespace_problem(namespace) {
        return Err(problem);
    }
    let service = std::env::var("POWERTOOLS_SERVICE_NAME")
        .ok()
        .filter(|service| !service.is_empty())
        .unwrap_or_else(|| function_name.to_owned());
    let identity = Identity {
        namespace: namespace.to_owned(),
        function_name: function_name.to_owned(),
        service,
    };
    if !enable(identity, output) {
        return Ok(());
    }
    if metrics::set_global_recorder(recorder::EmfRecorder::default()).is_err() {
        tracing::warn!(
            "another `metrics` recorder is installed: lambda-thaw's lifecycle metrics are written, \
             the `metrics` crate's macros go to that recorder"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_cloudwatch_refuses_is_named_with_the_reason() {
        assert_eq!(namespace_problem("Shop/Orders: v2"), None);
        assert!(namespace_problem(" ").unwrap().contains("empty"));
        assert!(namespace_problem(&"n".repeat(256)).unwrap().contains("256"));
        // CloudWatch's limit is 255 characters: that many is a namespace.
        assert_eq!(namespace_problem(&"n".repeat(255)), None);
        assert!(namespace_problem("Shop*").unwrap().contains("`*`"));
    }
}
