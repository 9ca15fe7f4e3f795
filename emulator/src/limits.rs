//! Lambda's limits, as strict here as there: code that passes under the emulator must not
//! be rejected by Lambda. Each value says where it comes from; "RIE" is the AWS Lambda
//! Runtime Interface Emulator (github.com/aws/aws-lambda-runtime-interface-emulator,
//! `internal/lambda-managed-instances`).

use std::time::Duration;

/// The largest buffered invocation payload and response: 6 MiB + 100 bytes
/// (RIE `interop/model.go`, `MaxPayloadSize = 6*1024*1024 + 100`; Lambda's quotas page:
/// "6 MB each for request and response (synchronous)").
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024 + 100;

/// The largest streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`):
/// 200 MB (Lambda developer guide, "Response streaming for Lambda functions").
pub const MAX_STREAMED_RESPONSE: usize = 200 * 1024 * 1024;

/// The largest body of the other API calls (`/error`, `/init/error`, extension
/// registration): an error report is a payload like any other.
pub const MAX_OTHER_BODY: usize = MAX_PAYLOAD;

/// How long a client may take to send a request's headers, and to send each next piece
/// of its body, before the emulator closes the connection. Lambda does not document a
/// value; a runtime that stops half-way through a request is broken either way, and
/// without a timeout the connection (and whatever waits on it) is held forever.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The accept loop's back-off when `accept` fails (out of file descriptors): first and
/// longest pause. Retrying at once would spin at full CPU while nothing can succeed.
pub const ACCEPT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(5), Duration::from_millis(500));

/// What the Runtime API answers for an oversized response (RIE
/// `rapi/rendering/render_error.go`, `RenderRequestEntityTooLarge`).
pub fn request_entity_too_large() -> (&'static str, String) {
    (
        "RequestEntityTooLarge",
        format!("Exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes)."),
    )
}

/// What the caller gets for an oversized response (RIE `rapid/model/customer_error.go`,
/// `ErrorFunctionOversizedResponse`).
pub const OVERSIZED_RESPONSE: &str = "Function.ResponseSizeTooLarge";

/// The X-Ray trace header Lambda sends with an invocation, in Lambda's format:
/// `Root=1-{8 hex: epoch seconds}-{24 hex}`, `Parent={16 hex}`, `Sampled=0` — 74
/// characters, as long as the real ones (RIE's test data:
/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`), so code
/// that stores or parses it meets the real length here.
pub fn trace_id(request_id: &str, at: std::time::SystemTime) -> String {
    let seconds = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let hex: String = request_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .chain(std::iter::repeat('0'))
        .take(32)
        .collect();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        seconds as u32,
        &hex[8..32],
        &hex[..16]
    )
}

/// The header with which Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY` above 1)
/// tell invocations in flight together apart, and which each answer carries back
/// (`lambda_runtime` 1.5, `constants.rs`: `lambda-runtime-invocation-id`).
pub const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
