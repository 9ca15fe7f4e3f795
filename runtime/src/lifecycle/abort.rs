//! A process built with `panic = "abort"` — what `cargo lambda build --release` makes unless
//! the workspace's `[profile.release]` says `panic = "unwind"` — cannot catch a panic: the
//! process dies, and with it every invocation in flight. Lambda would tell their callers
//! only `Runtime.ExitError`. So lambda-thaw installs a panic hook that, before the abort,
//! answers what it can in Lambda's terms:
//!
//! - during eager init: `POST /init/error` with `lambda_thaw::InitPanic`;
//! - otherwise: `POST /error` with `lambda_thaw::HandlerPanic` for every invocation taken
//!   and not yet answered (`taken.rs`); a panic in deferred work, after the answer was
//!   posted, has nothing left to answer and is only logged.
//!
//! The hook speaks HTTP/1.1 over a blocking socket: the tokio runtime it panicked on may
//! be the one that would have to run an async client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::PanicHookInfo;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lambda_runtime::Diagnostic;

use crate::lifecycle::api::{
    INIT_ERROR, INVOCATION_ID, error_body, init_error_body, invocation_path,
};
use crate::lifecycle::errors::{HANDLER_PANIC, INIT_PANIC, error_type, panic_message};
use crate::lifecycle::taken::claim_all;
use crate::redact::redact_secrets;

/// Whether this build aborts on a panic.
pub(crate) const ABORTS: bool = cfg!(panic = "abort");

/// Eager init is running (its panic goes to `/init/error`).
static IN_INIT: AtomicBool = AtomicBool::new(false);
/// The init's name, for the report.
static INIT_NAME: OnceLock<&'static str> = OnceLock::new();

/// How long the hook waits for the Runtime API to take a report.
const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// In a build that aborts on a panic: says so, and installs the hook that reports a panic
/// before the abort. Does nothing in a build that unwinds.
pub(crate) fn prepare(handler: &str) {
    if !ABORTS {
        return;
    }
    tracing::warn!(
        handler,
        "this function is built with panic = \"abort\": a panic ends the execution environment \
         (lambda-thaw reports it to Lambda first). Add `[profile.release] panic = \"unwind\"` to \
         the workspace's Cargo.toml to catch panics and serve on (`cargo lambda build` sets \
         \"abort\" unless the workspace says otherwise)"
    );
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        report(info);
    }));
}

/// Marks eager init as running (`Some(name)`) or over (`None`).
pub(crate) fn in_init(init: Option<&'static str>) {
    if let Some(name) = init {
        let _ = INIT_NAME.set(name);
    }
    IN_INIT.store(init.is_some(), Ordering::SeqCst);
}

fn report(info: &PanicHookInfo<'_>) {
    let text = panic_message(info.payload());
    let aborting = "this function is built with panic = \"abort\", so the process aborts now";
    if IN_INIT.load(Ordering::SeqCst) {
        let init = INIT_NAME.get().copied().unwrap_or("init");
        let diagnostic = Diagnostic {
            error_type: error_type(INIT_PANIC),
            error_message: redact_secrets(&format!("init `{init}` panicked: {text} ({aborting})")),
        };
        post(
            INIT_ERROR,
            None,
            "Runtime.InitError",
            &init_error_body(&diagnostic),
        );
        return;
    }
    let unanswered = claim_all();
    if unanswered.is_empty() {
        eprintln!(
            "lambda-thaw: a panic with no invocation left to answer (deferred work, or a task \
             of its own): {text}; {aborting}"
        );
    }
    let diagnostic = Diagnostic {
        error_type: error_type(HANDLER_PANIC),
        error_message: redact_secrets(&format!("Lambda panicked: {text} ({aborting})")),
    };
    let body = error_body(&diagnostic);
    for invocation in unanswered {
        post(
            &invocation_path(&invocation.request_id, "error"),
            invocation.invocation_id.as_deref(),
            "unhandled",
            &body,
        );
        invocation.answered();
    }
}

/// `POST path` to the Runtime API; failures go to stderr (there is nothing else to do).
fn post(path: &str, invocation_id: Option<&str>, error_type: &str, body: &str) {
    if let Err(error) = try_post(path, invocation_id, error_type, body) {
        eprintln!("lambda-thaw: cannot report the panic to the Runtime API ({path}): {error}");
    }
}

fn try_post(
    path: &str,
    invocation_id: Option<&str>,
    error_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| std::io::Error::other("AWS_LAMBDA_RUNTIME_API is not set"))?;
    let (authority, prefix) = split_api(&api);
    let address = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("`{authority}` resolves to nothing")))?;
    let mut stream = TcpStream::connect_timeout(&address, REPORT_TIMEOUT)?;
    stream.set_write_timeout(Some(REPORT_TIMEOUT))?;
    stream.set_read_timeout(Some(REPORT_TIMEOUT))?;
    let echo = invocation_id
        .map(|id| format!("{INVOCATION_ID}: {id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\n{echo}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    // The status line: the report is taken once the Runtime API answers.
    let mut status = [0u8; 12];
    stream.read_exact(&mut status)?;
    Ok(())
}

/// `AWS_LAMBDA_RUNTIME_API` as Lambda (`host:port`) and cargo-lambda
/// (`http://host:port/prefix`) set it: the authority and the path prefix.
fn split_api(api: &str) -> (&str, &str) {
    let rest = api.strip_prefix("http://").unwrap_or(api);
    match rest.find('/') {
        Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
        None => (rest, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_api_address_in_both_forms() {
        assert_eq!(split_api("127.0.0.1:9001"), ("127.0.0.1:9001", ""));
        assert_eq!(
            split_api("http://127.0.0.1:9000/.rt/orders/"),
            ("127.0.0.1:9000", "/.rt/orders")
        );
        assert_eq!(split_api("http://localhost:9000"), ("localhost:9000", ""));
    }
}
