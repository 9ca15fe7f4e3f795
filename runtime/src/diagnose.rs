//! The user's error as Lambda is told it: the `errorType` (the table in
//! `lifecycle/errors.rs`) and a message with each cause once, secrets redacted. This is the
//! erasure of the handler's error type `E`, done where the typed shim still knows `E`.

use std::any::Any;
use std::error::Error as StdError;

use lambda_runtime::Diagnostic;

use crate::init::InitError;
use crate::lifecycle::defer::DeferError;
use crate::lifecycle::errors::message;
use crate::redact::redact_secrets;
use crate::refused::{IdempotencyInProgress, IdempotencyKeyMissing, IdempotencyPayloadMismatch};

/// The handler's error as Lambda is told it. Generic only to look at the type: a boxed
/// [`Error`](lambda_runtime::Error) is named by what it holds; anything else by its conversion.
pub(crate) fn diagnose<E: Into<Diagnostic> + 'static>(error: E) -> Diagnostic {
    let mut slot = Some(error);
    if let Some(boxed) = (&mut slot as &mut dyn Any).downcast_mut::<Option<lambda_runtime::Error>>()
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
fn boxed_diagnostic(error: &(dyn StdError + Send + Sync + 'static)) -> Diagnostic {
    Diagnostic {
        error_type: boxed_type(error).to_string(),
        error_message: redact_secrets(&message(error)),
    }
}

fn boxed_type(error: &(dyn StdError + Send + Sync + 'static)) -> &'static str {
    if error.is::<std::io::Error>() {
        return "std::io::Error";
    }
    if error.is::<serde_json::Error>() {
        return "serde_json::Error";
    }
    if error.is::<InitError>() {
        return "lambda_thaw::InitError";
    }
    if error.is::<DeferError>() {
        return "lambda_thaw::DeferError";
    }
    if error.is::<IdempotencyInProgress>() {
        return "lambda_thaw::IdempotencyInProgress";
    }
    if error.is::<IdempotencyPayloadMismatch>() {
        return "lambda_thaw::IdempotencyPayloadMismatch";
    }
    if error.is::<IdempotencyKeyMissing>() {
        return "lambda_thaw::IdempotencyKeyMissing";
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_errors_are_named_by_what_they_hold() {
        let io: lambda_runtime::Error = Box::new(std::io::Error::other("disk"));
        assert_eq!(diagnose(io).error_type, "std::io::Error");
        let text: lambda_runtime::Error = "plain words".into();
        let d = diagnose(text);
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Error", "plain words")
        );
        let json: lambda_runtime::Error = serde_json::from_str::<u8>("x").unwrap_err().into();
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
