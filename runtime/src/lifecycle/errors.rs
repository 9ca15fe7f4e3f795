//! What an error is called when it reaches Lambda: the `errorType` that CloudWatch,
//! X-Ray and Step Functions `Retry`/`Catch` (`ErrorEquals`) match on, and a message that
//! prints each cause once.
//!
//! | `errorType` | when |
//! |---|---|
//! | `lambda_thaw::DeadlineExceeded` | the deadline guard cancelled the handler or a lazy init |
//! | `lambda_thaw::InitError` | `init` returned an error (eager: to `init/error`; lazy: that invocation) |
//! | `lambda_thaw::InitPanic` | `init` panicked |
//! | `lambda_thaw::HandlerPanic` | the handler panicked |
//! | `lambda_thaw::InvalidEvent` | the event does not deserialize into the handler's type |
//! | `lambda_thaw::InvalidResponse` | the handler's response does not serialize |
//! | `lambda_thaw::MalformedHeader` | a Runtime API header could not be read (the handler was not called) |
//! | `lambda_thaw::LayerError` | a tower layer around the handler returned an error, or returned without the invocation answered |
//! | `lambda_thaw::LayerPanic` | a tower layer around the handler panicked |
//! | `lambda_thaw::ShutdownCut` | the environment was shutting down (SIGTERM) and the invocation had not answered in time: it was cut, its transactions rolled back, so that the shutdown hook could close the pool cleanly before Lambda's SIGKILL |
//! | `lambda_thaw::InvalidOption` | an option given to the builder cannot work (to `init/error`: e.g. a metrics namespace CloudWatch refuses) |
//! | your own | your error type implements `From<YourError> for Diagnostic` |
//! | the error's type | any other error type `E` in `Result<R, E>`, e.g. `sqlx::Error`; for a boxed [`Error`](crate::Error), the boxed value's type when it is one of `std::io::Error`, `serde_json::Error`, `sqlx::Error`, lambda-thaw's own, else `Error` |

use std::any::Any;
use std::error::Error as StdError;

pub(crate) const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
pub(crate) const INIT_ERROR: &str = "InitError";
pub(crate) const INIT_PANIC: &str = "InitPanic";
pub(crate) const HANDLER_PANIC: &str = "HandlerPanic";
pub(crate) const INVALID_EVENT: &str = "InvalidEvent";
pub(crate) const INVALID_RESPONSE: &str = "InvalidResponse";
pub(crate) const MALFORMED_HEADER: &str = "MalformedHeader";
pub(crate) const LAYER_ERROR: &str = "LayerError";
pub(crate) const LAYER_PANIC: &str = "LayerPanic";
pub(crate) const INVALID_OPTION: &str = "InvalidOption";
pub(crate) const SHUTDOWN_CUT: &str = "ShutdownCut";

/// One of lambda-thaw's own error types, as reported.
pub(crate) fn error_type(name: &str) -> String {
    format!("lambda_thaw::{name}")
}

/// The text a panic carried (`panic!("…")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

/// The error's message followed by each of its causes — but a cause whose text the
/// message already contains is not repeated (sqlx, for one, includes its source in its
/// own `Display`, and so do many `thiserror` types with `{0}`).
pub(crate) fn message(error: &(dyn StdError + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "error communicating with database: {}", self.0)
        }
    }

    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let text = message(&Outer(refused));
        assert_eq!(
            text,
            "error communicating with database: Connection refused (os error 111)"
        );
    }

    #[derive(Debug)]
    struct Context(&'static str, Box<dyn StdError + Send + Sync>);

    impl fmt::Display for Context {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Context {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    /// Causes the message does not already say reach Lambda, in order, each once; an empty
    /// one adds nothing.
    #[test]
    fn causes_not_in_the_message_are_appended_in_order() {
        let disk = std::io::Error::other("disk full");
        let chain = Context(
            "cannot record the order",
            Box::new(Context("cannot write the journal", Box::new(disk))),
        );
        assert_eq!(
            message(&chain),
            "cannot record the order: cannot write the journal: disk full"
        );
        let empty = Context("refused", Box::new(std::io::Error::other("")));
        assert_eq!(message(&empty), "refused");
    }
}
