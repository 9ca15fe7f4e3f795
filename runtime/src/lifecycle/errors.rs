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
//! | your own | your error type implements `From<YourError> for Diagnostic` |
//! | the error's type | any other error type `E` in `Result<R, E>`, e.g. `sqlx::Error`; for a boxed [`Error`](crate::Error), the boxed value's type when it is one of `std::io::Error`, `serde_json::Error`, `sqlx::Error`, lambda-thaw's own, else `Error` |

use std::any::Any;
use std::error::Error as StdError;

use lambda_runtime::Diagnostic;

pub(crate) const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
pub(crate) const INIT_ERROR: &str = "InitError";
pub(crate) const INIT_PANIC: &str = "InitPanic";
pub(crate) const HANDLER_PANIC: &str = "HandlerPanic";
pub(crate) const INVALID_EVENT: &str = "InvalidEvent";
pub(crate) const INVALID_RESPONSE: &str = "InvalidResponse";
pub(crate) const MALFORMED_HEADER: &str = "MalformedHeader";
pub(crate) const LAYER_ERROR: &str = "LayerError";
pub(crate) const LAYER_PANIC: &str = "LayerPanic";

/// One of lambda-thaw's own error types, as reported.
pub(crate) fn error_type(name: &str) -> String {
    format!("lambda_thaw::{name}")
}

/// The handler's error as Lambda is told it. Generic only to look at the type: a boxed
/// [`Error`](crate::Error) is named by what it holds; anything else by its conversion.
pub(crate) fn diagnose<E: Into<Diagnostic> + 'static>(error: E) -> Diagnostic {
    let mut slot = Some(error);
    if let Some(boxed) = (&mut slot as &mut dyn Any).downcast_mut::<Option<crate::Error>>()
        && let Some(boxed) = boxed.take()
    {
        return boxed_diagnostic(&*boxed);
    }
    match slot {
        Some(error) => renamed(error.into()),
        None => unreachable!("only taken when it was a boxed error"),
    }
}

/// A boxed error: the boxed value's type when we can name it, the message with each cause once.
pub(crate) fn boxed_diagnostic(error: &(dyn StdError + Send + Sync + 'static)) -> Diagnostic {
    Diagnostic {
        error_type: boxed_type(error).to_string(),
        error_message: crate::redact_secrets(&message(error)),
    }
}

fn boxed_type(error: &(dyn StdError + Send + Sync + 'static)) -> &'static str {
    if error.is::<std::io::Error>() {
        return "std::io::Error";
    }
    if error.is::<serde_json::Error>() {
        return "serde_json::Error";
    }
    if error.is::<crate::InitError>() {
        return "lambda_thaw::InitError";
    }
    if error.is::<crate::DeferError>() {
        return "lambda_thaw::DeferError";
    }
    #[cfg(feature = "sqlx")]
    {
        if error.is::<sqlx::Error>() {
            return "sqlx::Error";
        }
        if error.is::<crate::sqlx::ConnectError>() {
            return "lambda_thaw::sqlx::ConnectError";
        }
    }
    "Error"
}

/// `lambda_runtime`'s conversions name an error by `type_name`, which for its own impls is
/// a standard-library path nobody would match on; give those a plain name.
fn renamed(mut diagnostic: Diagnostic) -> Diagnostic {
    // `type_name_of_val(&value)`: the names come with a leading `&`.
    let name = diagnostic.error_type.trim_start_matches('&');
    diagnostic.error_type = match name {
        "alloc::string::String" | "str" | "core::convert::Infallible" => "Error".into(),
        "std::io::error::Error" => "std::io::Error".into(),
        name if name.starts_with("alloc::boxed::Box<dyn core::error::Error") => "Error".into(),
        _ => return diagnostic,
    };
    diagnostic
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
        let boxed: crate::Error = Box::new(chain);
        assert_eq!(
            diagnose(boxed).error_message,
            "cannot record the order: cannot write the journal: disk full"
        );
    }

    #[test]
    fn boxed_errors_are_named_by_what_they_hold() {
        let io: crate::Error = Box::new(std::io::Error::other("disk"));
        assert_eq!(diagnose(io).error_type, "std::io::Error");
        let text: crate::Error = "plain words".into();
        let d = diagnose(text);
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Error", "plain words")
        );
        let json: crate::Error = serde_json::from_str::<u8>("x").unwrap_err().into();
        assert_eq!(diagnose(json).error_type, "serde_json::Error");
    }

    #[test]
    fn own_diagnostics_are_kept_and_std_names_made_plain() {
        struct Mine;
        impl From<Mine> for Diagnostic {
            fn from(_: Mine) -> Self {
                Diagnostic {
                    error_type: "OrderRejected".into(),
                    error_message: "no stock".into(),
                }
            }
        }
        assert_eq!(diagnose(Mine).error_type, "OrderRejected");
        assert_eq!(diagnose(String::from("x")).error_type, "Error");
        let unsendable: Box<dyn StdError> = "not Send".into();
        assert_eq!(diagnose(unsendable).error_type, "Error");
        assert_eq!(
            diagnose(std::io::Error::other("x")).error_type,
            "std::io::Error"
        );
    }
}
