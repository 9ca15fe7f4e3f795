//! Running the user's `init`: sync or async, returning `S` or `Result<S, E>`, with panics
//! caught and turned into an error.
//!
//! The macro cannot see whether `init = path` names an async fn, so the generated code asks
//! the type of the value the call produced. Method resolution picks
//! [`ViaFuture::__lambda_thaw_init_kind`] when that value is a future (one more auto-ref
//! level matches first) and [`ViaValue::__lambda_thaw_init_kind`] otherwise; both return
//! a tag whose `resolve` turns the value into a future of the init's output.

use std::any::Any;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use lambda_runtime::Error;

use crate::lifecycle::errors::{self, panic_message};
use crate::redact::redact_secrets;

/// Why init failed: an error it returned or a panic. Reported to Lambda as
/// `errorType`/`errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    /// `lambda_thaw::InitError` (init returned an error) or `lambda_thaw::InitPanic`.
    pub error_type: String,
    /// What went wrong, with the error's sources.
    pub message: String,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InitError {}

impl From<InitError> for lambda_runtime::Diagnostic {
    fn from(error: InitError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type,
            error_message: error.message,
        }
    }
}

impl InitError {
    /// An init error from any error value, its source chain included in the message.
    pub(crate) fn from_error<E: Into<Error>>(init_name: &str, error: E) -> Self {
        let error: Error = error.into();
        Self::from_boxed(init_name, &*error)
    }

    /// Not generic, so that each init's error type costs its crate nothing more.
    fn from_boxed(
        init_name: &str,
        error: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> Self {
        let message = format!("init `{init_name}` failed: {}", errors::message(error));
        Self {
            error_type: errors::error_type(errors::INIT_ERROR),
            message: redact_secrets(&message),
        }
    }

    pub(crate) fn from_panic(init_name: &str, payload: Box<dyn Any + Send>) -> Self {
        let text = panic_message(&*payload);
        Self {
            error_type: errors::error_type(errors::INIT_PANIC),
            message: redact_secrets(&format!("init `{init_name}` panicked: {text}")),
        }
    }
}

/// What an init may return for state `S`: `S` itself or `Result<S, E>`.
#[diagnostic::on_unimplemented(
    message = "`init` returns `{Self}`, but the handler's state parameter expects `{S}`",
    label = "this init does not produce `{S}`",
    note = "`init` must return `{S}` or `Result<{S}, E>` (optionally from an `async fn`), where `E: Into<lambda_thaw::Error>`",
    note = "change the handler's state parameter to `&` + the type `init` returns, or change what `init` returns"
)]
pub trait IntoInitResult<S> {
    /// Converts the init's output into the state or an error.
    fn into_init_result(self, init_name: &str) -> Result<S, InitError>;
}

impl<S> IntoInitResult<S> for S {
    fn into_init_result(self, _: &str) -> Result<S, InitError> {
        Ok(self)
    }
}

impl<S, E: Into<Error>> IntoInitResult<S> for Result<S, E> {
    fn into_init_result(self, init_name: &str) -> Result<S, InitError> {
        self.map_err(|e| InitError::from_error(init_name, e))
    }
}

/// The value an `init` call produced, before we know whether it is a future.
pub struct InitCall<T>(pub T);

/// Tag: the init was an `async fn` (its call produced a future).
pub struct AsyncInit;
/// Tag: the init was a plain `fn`.
pub struct SyncInit;

/// Chosen when the init call produced a future.
pub trait ViaFuture {
    /// Returns `AsyncInit`.
    fn __lambda_thaw_init_kind(&self) -> AsyncInit {
        AsyncInit
    }
}
impl<F: Future> ViaFuture for &InitCall<F> {}

/// Chosen for every other value.
pub trait ViaValue {
    /// Returns `SyncInit`.
    fn __lambda_thaw_init_kind(&self) -> SyncInit {
        SyncInit
    }
}
impl<T> ViaValue for InitCall<T> {}

impl AsyncInit {
    /// The future itself.
    pub fn resolve<F: Future>(self, call: InitCall<F>) -> F {
        call.0
    }
}

impl SyncInit {
    /// The value, already ready.
    pub fn resolve<T>(self, call: InitCall<T>) -> Ready<T> {
        ready(call.0)
    }
}

/// Awaits an init future, turning a panic into an [`InitError`] so a failed init is
/// reported, never cached, and never poisons anything.
pub(crate) async fn catch_init<S, F>(init_name: &str, init: F) -> Result<S, InitError>
where
    F: Future<Output = Result<S, InitError>>,
{
    match AssertUnwindSafe(init).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(InitError::from_panic(init_name, payload)),
    }
}
