//! Reading an invocation's headers into `lambda_runtime`'s [`Context`].
//!
//! `lambda_runtime` 1.5 ends its loop (and with it the environment) on a `Client-Context`
//! or `Cognito-Identity` header that is not the JSON it expects — headers the *invoker*
//! controls — and on a deadline that is not a number; it panics on a missing request id
//! or deadline. Here each of those is about one invocation only: it is answered with an
//! error naming the header, and the environment serves on.
//!
//! A deadline that is a number but plainly not one (already past, or not epoch
//! milliseconds, like cargo-lambda's relative `600000`) is treated as "no deadline", with
//! one warning per process saying why: the guard, the bound on deferred work and
//! [`time_left`](crate::time_left) then have nothing to go by.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use lambda_runtime::{Config, Context, Diagnostic};
use serde::de::DeserializeOwned;

use crate::lifecycle::errors::{MALFORMED_HEADER, error_type};

const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const DEADLINE: &str = "lambda-runtime-deadline-ms";
const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
const TRACE_ID: &str = "lambda-runtime-trace-id";
const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
const TENANT_ID: &str = "lambda-runtime-aws-tenant-id";

/// Epoch milliseconds of 2001-09-09: any real deadline is later. Smaller numbers are
/// durations (cargo-lambda 1.9 sends `600000`, ten minutes), not instants.
const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// The invocation's deadline in epoch milliseconds, when there is a usable one. Carried to
/// the invocation in the request parts' extensions, so tower layers pass it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline(pub(crate) u64);

/// Why an invocation could not be read.
#[derive(Debug)]
pub(crate) enum Unreadable {
    /// No usable request id: the invocation cannot be answered at all.
    NoRequestId(String),
    /// A header that cannot be read: the invocation is answered with this error.
    Header {
        request_id: String,
        diagnostic: Diagnostic,
    },
}

/// The context of the invocation these headers announce, and its usable deadline.
pub(crate) fn read(
    headers: &HeaderMap,
    config: &std::sync::Arc<Config>,
) -> Result<(Context, Option<Deadline>), Unreadable> {
    let request_id = match headers.get(REQUEST_ID).map(|v| v.to_str()) {
        Some(Ok(id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic() && b != b'/') => {
            id.to_string()
        }
        Some(_) => {
            return Err(Unreadable::NoRequestId(format!(
                "the `Lambda-Runtime-Aws-Request-Id` header is not a request id ({:?})",
                headers.get(REQUEST_ID)
            )));
        }
        None => {
            return Err(Unreadable::NoRequestId(
                "the event came without a `Lambda-Runtime-Aws-Request-Id` header".into(),
            ));
        }
    };
    let malformed = |header: &str, problem: String| Unreadable::Header {
        request_id: request_id.clone(),
        diagnostic: Diagnostic {
            error_type: error_type(MALFORMED_HEADER),
            error_message: format!(
                "the invocation's `{header}` header {problem}; the handler was not called and the environment serves on"
            ),
        },
    };

    let (raw_deadline, deadline) = match headers.get(DEADLINE) {
        None => {
            warn_once(
                &NO_DEADLINE,
                "the invocation came without a `Lambda-Runtime-Deadline-Ms` header: running without a deadline (no deadline guard, deferred work unbounded)",
            );
            (0, None)
        }
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            let Ok(ms) = text.trim().parse::<u64>() else {
                return Err(malformed(
                    "Lambda-Runtime-Deadline-Ms",
                    format!(
                        "is `{}`, not epoch milliseconds",
                        String::from_utf8_lossy(value.as_bytes())
                    ),
                ));
            };
            (ms, usable(ms, now_ms()))
        }
    };

    let client_context = json_header(headers, CLIENT_CONTEXT)
        .map_err(|problem| malformed("Lambda-Runtime-Client-Context", problem))?;
    let identity = json_header(headers, COGNITO_IDENTITY)
        .map_err(|problem| malformed("Lambda-Runtime-Cognito-Identity", problem))?;

    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut context = Context::default();
    context.request_id = request_id;
    // As sent, even when it is not usable: the handler sees what Lambda (or the local tool)
    // said; `lambda_thaw::time_left()` gives the usable view.
    context.deadline = raw_deadline;
    context.invoked_function_arn = text(FUNCTION_ARN).unwrap_or_default();
    context.xray_trace_id = text(TRACE_ID);
    context.client_context = client_context;
    context.identity = identity;
    context.tenant_id = text(TENANT_ID);
    context.env_config = config.clone();
    Ok((context, deadline))
}

/// The deadline if it can be one; else `None`, with one warning per process saying why.
fn usable(ms: u64, now_ms: u64) -> Option<Deadline> {
    if ms < PLAUSIBLE_EPOCH_MS {
        warn_once(
            &RELATIVE_DEADLINE,
            &format!(
                "`Lambda-Runtime-Deadline-Ms` is {ms}, which is not epoch milliseconds (a relative timeout, as cargo-lambda sends): running without a deadline (no deadline guard, deferred work unbounded)"
            ),
        );
        return None;
    }
    if ms <= now_ms {
        warn_once(
            &PAST_DEADLINE,
            &format!(
                "`Lambda-Runtime-Deadline-Ms` ({ms}) was already {} ms past when the event arrived (is this machine's clock right?): running without a deadline",
                now_ms - ms
            ),
        );
        return None;
    }
    Some(Deadline(ms))
}

static NO_DEADLINE: AtomicBool = AtomicBool::new(false);
static RELATIVE_DEADLINE: AtomicBool = AtomicBool::new(false);
static PAST_DEADLINE: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        tracing::warn!("{message} (said once per environment)");
    }
}

/// An optional JSON header: absent or empty is `None`; anything else must parse as `T`.
fn json_header<T: DeserializeOwned>(headers: &HeaderMap, name: &str) -> Result<Option<T>, String> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let Ok(text) = value.to_str() else {
        return Err("is not text".into());
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|error| {
        let shown: String = text.chars().take(80).collect();
        format!("is not the JSON Lambda defines for it ({error}): `{shown}`")
    })
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn read_(pairs: &[(&'static str, &str)]) -> Result<(Context, Option<Deadline>), Unreadable> {
        read(&headers(pairs), &Arc::new(Config::default()))
    }

    fn header_error(result: Result<(Context, Option<Deadline>), Unreadable>) -> Diagnostic {
        match result {
            Err(Unreadable::Header {
                request_id,
                diagnostic,
            }) => {
                assert_eq!(request_id, "r1");
                diagnostic
            }
            other => panic!("expected a header error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_invocation_is_read_whole() {
        let deadline = (now_ms() + 3000).to_string();
        let (context, usable) = read_(&[
            (REQUEST_ID, "r1"),
            (DEADLINE, &deadline),
            (
                TRACE_ID,
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            ),
            (CLIENT_CONTEXT, r#"{"custom":{"k":"v"}}"#),
        ])
        .unwrap();
        assert_eq!(context.request_id, "r1");
        assert_eq!(usable, Some(Deadline(deadline.parse().unwrap())));
        assert_eq!(context.client_context.unwrap().custom["k"], "v");
        assert!(context.xray_trace_id.unwrap().starts_with("Root=1-"));
    }

    #[test]
    fn malformed_invoker_headers_are_errors_that_name_the_header() {
        let d = header_error(read_(&[(REQUEST_ID, "r1"), (CLIENT_CONTEXT, "{not json")]));
        assert!(
            d.error_message.contains("`Lambda-Runtime-Client-Context`"),
            "{d:?}"
        );
        assert_eq!(d.error_type, "lambda_thaw::MalformedHeader");
        let d = header_error(read_(&[
            (REQUEST_ID, "r1"),
            (CLIENT_CONTEXT, r#"{"client":5}"#),
        ]));
        assert!(d.error_message.contains("Client-Context"), "{d:?}");
        let d = header_error(read_(&[(REQUEST_ID, "r1"), (COGNITO_IDENTITY, "[]")]));
        assert!(
            d.error_message
                .contains("`Lambda-Runtime-Cognito-Identity`"),
            "{d:?}"
        );
        let d = header_error(read_(&[(REQUEST_ID, "r1"), (DEADLINE, "abc")]));
        assert!(
            d.error_message
                .contains("`Lambda-Runtime-Deadline-Ms` header is `abc`"),
            "{d:?}"
        );
    }

    #[test]
    fn a_missing_request_id_cannot_be_answered_and_does_not_panic() {
        assert!(matches!(
            read_(&[(DEADLINE, "1")]),
            Err(Unreadable::NoRequestId(_))
        ));
        assert!(matches!(
            read_(&[(REQUEST_ID, "a/b")]),
            Err(Unreadable::NoRequestId(_))
        ));
    }

    #[test]
    fn deadlines_that_are_not_deadlines_are_no_deadline() {
        let now = now_ms();
        assert_eq!(
            usable(600_000, now),
            None,
            "cargo-lambda's relative ten minutes"
        );
        assert_eq!(usable(now - 5, now), None, "already past");
        assert_eq!(usable(now + 5, now), Some(Deadline(now + 5)));
        let (context, deadline) = read_(&[(REQUEST_ID, "r1")]).unwrap();
        assert_eq!(
            (context.deadline, deadline),
            (0, None),
            "missing: no deadline, no panic"
        );
        let (context, deadline) = read_(&[(REQUEST_ID, "r1"), (DEADLINE, "600000")]).unwrap();
        assert_eq!(
            (context.deadline, deadline),
            (600_000, None),
            "the handler sees what was sent"
        );
    }
}
