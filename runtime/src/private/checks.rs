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

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::__private::probe::Probe;
use crate::close::ShutdownFuture;

/// Types the per-environment state may have.
#[diagnostic::on_unimplemented(
    message = "the state `{Self}` is shared by every invocation of the environment, across threads, so it must be `Send + Sync + 'static`",
    label = "not `Send + Sync + 'static`",
    note = "hold it in thread-safe types: `Arc` instead of `Rc`, `Mutex`/`RwLock` instead of `RefCell`/`Cell`, owned data instead of borrows"
)]
pub trait SharedState {}

#[diagnostic::do_not_recommend]
impl<T: Send + Sync + 'static> SharedState for T {}

/// Checks the state parameter's type where the user wrote it.
pub fn assert_state<T: SharedState>() {}

/// Types the payload of an event may have.
#[diagnostic::on_unimplemented(
    message = "the payload `{Self}` cannot be deserialized: it must implement `serde::Deserialize` (and `Send`)",
    label = "not deserializable",
    note = "derive it: `#[derive(serde::Deserialize)] struct MyEvent {{ … }}`; or take `serde_json::Value` for any JSON, or a type from `aws_lambda_events`"
)]
pub trait EventPayload {}

#[diagnostic::do_not_recommend]
impl<T: for<'de> serde::Deserialize<'de> + Send + 'static> EventPayload for T {}

/// Types the event a handler receives may have.
#[diagnostic::on_unimplemented(
    message = "the event `{Self}` cannot be deserialized: its payload type must implement `serde::Deserialize` (and `Send`)",
    label = "the payload in this event type is not deserializable",
    note = "derive it: `#[derive(serde::Deserialize)] struct MyEvent {{ … }}`; or take `serde_json::Value` for any JSON, or a type from `aws_lambda_events`"
)]
pub trait HandlerEvent {}

#[diagnostic::do_not_recommend]
impl<T: EventPayload> HandlerEvent for LambdaEvent<T> {}

/// The event of an HTTP handler: `lambda_http` deserializes it, whatever the source.
pub struct HttpEvent;

impl HandlerEvent for HttpEvent {}

/// Checks the event parameter's type where the user wrote it.
pub fn assert_event<T: HandlerEvent>() {}

/// Checks the payload parameter's type where the user wrote it.
pub fn assert_payload<T: EventPayload>() {}

/// Error types a handler may return.
#[diagnostic::on_unimplemented(
    message = "the handler's error type `{Self}` cannot be reported to Lambda: it must convert into `lambda_thaw::Diagnostic`",
    label = "Lambda cannot report this error type",
    note = "return `lambda_thaw::Error` (every `std::error::Error` converts into it with `?`), or implement `From<{Self}> for lambda_thaw::Diagnostic` to choose the `errorType` and `errorMessage`"
)]
pub trait HandlerError {}

#[diagnostic::do_not_recommend]
impl<E: Into<Diagnostic> + Send + 'static> HandlerError for E {}

/// Checks the handler's error type where the user wrote it (in `Result<R, E>`).
pub fn assert_error<T: HandlerError>() {}

/// Every assertion holds: the real entry (`Checked::main`, `Checked::main_http`).
#[derive(Debug, Clone, Copy)]
pub struct Checked(());

/// An assertion failed and has been reported: an entry without bounds, so nothing else
/// is. Never in a binary (the failed assertion stops the build).
#[derive(Debug, Clone, Copy)]
pub struct Rejected(());

/// Chosen, by autoref, when the state and the event pass their checks.
pub trait EntryChecked {
    /// [`Checked`].
    fn __lambda_thaw_entry(&self) -> Checked {
        Checked(())
    }
}

/// Asked as `(&&Probe::<(S, E, Err)>::new()).__lambda_thaw_entry()` with the handler's
/// state, event and error types.
impl<S: SharedState, E: HandlerEvent, Err: HandlerError> EntryChecked for &Probe<(S, E, Err)> {}

/// Chosen otherwise.
pub trait EntryRejected {
    /// [`Rejected`].
    fn __lambda_thaw_entry(&self) -> Rejected {
        Rejected(())
    }
}

impl<T> EntryRejected for Probe<T> {}

impl Checked {
    /// Checks that `future` is `Send`, where the generated code spans this call (the
    /// handler's name, or `init = …`), and carries that proof to `main`'s bounds.
    pub fn send<F: Future + Send>(self, future: F) -> SendFuture<F> {
        SendFuture { future }
    }

    /// Boxes a shutdown hook's future.
    pub fn shutdown_future(
        self,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> ShutdownFuture {
        Box::pin(future)
    }
}

pin_project_lite::pin_project! {
    /// A future that [`Checked::send`] has checked to be `Send`.
    pub struct SendFuture<F> {
        #[pin]
        future: F,
    }
}

// SAFETY: the only way to make a `SendFuture<F>` is `Checked::send`, which requires
// `F: Send`; so every `SendFuture` that exists wraps a `Send` future. (The impl exists so
// that `main`'s `Send` bound holds without repeating the error `send` already reported.)
unsafe impl<F> Send for SendFuture<F> {}

impl<F: Future> Future for SendFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

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

/// Chosen when `main` is the generated one: nothing to say.
pub trait MainIsGenerated {
    /// Nothing.
    fn __lambda_thaw_main(&self) {}
}

/// Asked as `(&&Probe::<(F, Exit)>::of(main)).__lambda_thaw_main()`: the generated `main`
/// returns `Exit`, a type only the generated module defines; a `fn main` of the user's
/// shadows it, and the handler would silently never run.
impl<F: Fn() -> Exit, Exit> MainIsGenerated for &Probe<(F, Exit)> {}

/// Chosen when the user wrote `fn main`: a warning in our words (rustc's deprecation
/// warning is the one diagnostic a library can word that does not stop the build).
pub trait MainIsTheUsers {
    /// Warns.
    #[deprecated(
        note = "this binary defines its own `fn main`, so the `main` that `#[handler]` generates (init, the runtime loop, this handler) never runs: remove your `fn main`"
    )]
    fn __lambda_thaw_main(&self) {}
}

impl<T> MainIsTheUsers for Probe<T> {}

/// Present only with the `http` feature; its absence explains the error.
#[cfg(not(feature = "http"))]
#[diagnostic::on_unimplemented(
    message = "a handler that takes a `Request` needs lambda-thaw's `http` feature",
    label = "this handler takes an HTTP `Request`",
    note = "enable it: add `features = [\"http\"]` to the `lambda-thaw` dependency"
)]
pub trait HttpFeature {}

#[cfg(not(feature = "http"))]
impl<S> crate::Builder<S> {
    /// Stands in for `run_http` when the `http` feature is off, to say so.
    #[doc(hidden)]
    pub fn run_http<H: HttpFeature>(self, _: H) -> ExitCode {
        ExitCode::FAILURE
    }
}
