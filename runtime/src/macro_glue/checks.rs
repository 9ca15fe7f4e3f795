//! The questions the generated `main` asks the compiler about the user's types, so that a
//! misuse is one error, in our words, at the token the user wrote — not a cascade of
//! unmet bounds inside `lambda_thaw`.
//!
//! Two tools:
//!
//! * An assertion per concern (`assert_state::<S>()` spanned at the state parameter,
//!   `assert_event::<E>()` at the event (or `assert_payload::<T>()` at the payload), `assert_error::<E>()` at the error type), through a trait with
//!   `#[diagnostic::on_unimplemented]` whose blanket impl is `#[diagnostic::do_not_recommend]`,
//!   so rustc reports the trait itself (one error, our message) rather than each unmet
//!   bound behind it (`Send` and `Sync` would be two).
//! * The entry, chosen by method resolution on a [`Probe`]: when every assertion holds,
//!   [`Checked`] (whose `main` is the real one, with all its bounds); when one fails,
//!   [`Rejected`], whose `main` has no bounds at all, so the failed assertion is the only
//!   error. `Rejected` is chosen exactly when an assertion fails (its selection and the
//!   assertions use the same traits), so it never ends up in a binary.
//!
//! The entry also checks the futures `main` will move between threads — the handler's at
//! the handler's name, init's at `init = …` ([`Checked::send`]) — so a future that holds
//! an `Rc` across an `.await` is reported at the function that made it.

use std::process::ExitCode;

#[cfg(not(feature = "http"))]
use crate::builder::Builder;
use crate::close::ShutdownFuture;
use crate::probe::Probe;
use crate::requirements::{Checked, HandlerError, HandlerEvent, SharedState};

/// An assertion failed and has been reported: an entry without bounds, so nothing else
/// is. Never in a binary (the failed assertion stops the build).
#[derive(Debug, Clone, Copy)]
pub struct Rejected(());

/// Chosen, by autoref, when the state and the event pass their checks.
pub trait EntryChecked {
    /// [`Checked`].
    fn __lambda_thaw_entry(&self) -> Checked {
        Checked::new()
    }
}

/// Asked as `(&&Probe::<(S, E, Err)>::new()).__lambda_thaw_entry()` with the handler's
/// state, event and error types.
impl<S: SharedState, E: HandlerEvent, Err: HandlerError> EntryChecked for &Probe<(S, E, Err)> {}

/// Chosen otherwise.
pub trait EntryRejected {
    /// `Rejected`.
    fn __lambda_thaw_entry(&self) -> Rejected {
        Rejected(())
    }
}

impl<T> EntryRejected for Probe<T> {}

impl Rejected {
    /// Stands in for [`Checked::send`]: the future as it is (no claim that it is `Send`).
    pub fn send<F>(self, future: F) -> F {
        future
    }

    /// Stands in for [`Checked::shutdown_future`].
    pub fn shutdown_future<F>(self, _: F) -> ShutdownFuture {
        Box::pin(std::future::ready(()))
    }

    /// Stands in for [`Checked::builder`] while the compiler reports the failed assertion;
    /// the builder's methods below have no bounds either.
    pub fn builder<O, I, Sh>(self, _: O, _: I, _: Sh) -> Self {
        self
    }

    /// Stands in for `Builder::tracing`.
    pub fn tracing<T>(self, _: T) -> Self {
        self
    }

    /// Stands in for `Builder::without_tracing`.
    pub fn without_tracing(self) -> Self {
        self
    }

    /// Stands in for `Builder::current_thread_runtime`.
    pub fn current_thread_runtime(self) -> Self {
        self
    }

    /// Stands in for `Builder::worker_threads`.
    pub fn worker_threads(self, _: usize) -> Self {
        self
    }

    /// Stands in for `Builder::layer`.
    pub fn layer<L>(self, _: L) -> Self {
        self
    }

    /// Stands in for `Builder::run`.
    pub fn run<H>(self, _: H) -> ExitCode {
        ExitCode::FAILURE
    }

    /// Stands in for `Builder::run_http`.
    pub fn run_http<H>(self, _: H) -> ExitCode {
        ExitCode::FAILURE
    }
}

/// Present only *without* the `http` feature: a handler taking a `Request` then fails
/// on this trait, whose message says to enable the feature.
#[cfg(not(feature = "http"))]
#[diagnostic::on_unimplemented(
    message = "a handler that takes a `Request` needs lambda-thaw's `http` feature",
    label = "this handler takes an HTTP `Request`",
    note = "enable it: add `features = [\"http\"]` to the `lambda-thaw` dependency"
)]
pub trait HttpFeature {}

#[cfg(not(feature = "http"))]
impl<S> Builder<S> {
    /// Stands in for `run_http` when the `http` feature is off, to say so.
    #[doc(hidden)]
    pub fn run_http<H: HttpFeature>(self, _: H) -> ExitCode {
        ExitCode::FAILURE
    }
}
