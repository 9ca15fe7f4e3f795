//! What `#[handler]` requires of your types and functions. The generated code checks each
//! requirement where you wrote the type or named the function, so a mistake is one error,
//! in these words, at your token; the compiler's notes then point here.
//!
//! Each requirement is a trait with a blanket impl for everything that meets it; you never
//! implement them yourself.

use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::probe::Probe;

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

/// Functions `init = …` may name: no arguments; sync or async; returning `S` or
/// `Result<S, E>`.
#[diagnostic::on_unimplemented(
    message = "`init` must be a function that takes no arguments",
    label = "called once per environment, with no arguments",
    note = "build what it needs inside it, reading configuration from the environment: `async fn setup() -> Result<State, lambda_thaw::Error>`"
)]
pub trait InitFn<R> {
    /// Calls it.
    fn call_init(self) -> R;
}

#[diagnostic::do_not_recommend]
impl<F: FnOnce() -> R, R> InitFn<R> for F {
    fn call_init(self) -> R {
        self()
    }
}

/// Functions `shutdown = …` may name: the state by shared reference; sync or async;
/// returning `()` or a `Result` whose error is logged.
#[diagnostic::on_unimplemented(
    message = "`shutdown` must be a function that takes the state as `&{S}`",
    label = "called once at shutdown, with `&{S}`",
    note = "write it as `fn close(state: &{S})` or `async fn close(state: &{S})`"
)]
pub trait ShutdownFn<S: 'static, R> {
    /// Calls it.
    fn call_shutdown(self, state: &'static S) -> R;
}

#[diagnostic::do_not_recommend]
impl<F: FnOnce(&'static S) -> R, S: 'static, R> ShutdownFn<S, R> for F {
    fn call_shutdown(self, state: &'static S) -> R {
        self(state)
    }
}

/// Chosen when `main` is the generated one: nothing to say.
pub trait MainIsGenerated {
    /// Nothing.
    fn shadowed_by_your_own_main(&self) {}
}

/// Asked as `(&&Probe::<(F, Exit)>::of(main)).shadowed_by_your_own_main()`: the generated `main`
/// returns `Exit`, a type only the generated module defines; a `fn main` of the user's
/// shadows it, and the handler would silently never run.
impl<F: Fn() -> Exit, Exit> MainIsGenerated for &Probe<(F, Exit)> {}

/// Chosen when the user wrote `fn main`: a warning in our words (rustc's deprecation
/// warning is the one diagnostic a library can word that does not stop the build).
pub trait YourOwnMain {
    /// Warns.
    #[deprecated(
        note = "this binary defines its own `fn main`, so the `main` that `#[handler]` generates (init, the runtime loop, this handler) never runs: remove your `fn main`"
    )]
    fn shadowed_by_your_own_main(&self) {}
}

impl<T> YourOwnMain for Probe<T> {}

/// Called by the generated `main` only in a build whose panic strategy is `abort`: a
/// warning in our words, at the handler, naming the fix.
#[deprecated(
    note = "this function is built with `panic = \"abort\"` (`cargo lambda build --release` sets it unless your workspace says otherwise): a panic in the handler, its deferred work or init ends the execution environment, and the next event cold-starts. lambda-thaw reports the panic before the abort, but only unwinding lets the environment serve on: add `panic = \"unwind\"` under `[profile.release]` in your workspace's Cargo.toml"
)]
pub fn built_with_panic_abort() {}

/// Every requirement holds: the entry that runs the handler. Its methods check what the
/// generated `main` will move between threads where the user wrote it (the handler's
/// future at its name, init's at `init = …`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Checked(());

impl Checked {
    pub(crate) fn new() -> Self {
        Self(())
    }
}

impl Checked {
    /// Checks that `future` is `Send`, where the generated code spans this call (the
    /// handler's name, or `init = …`), and carries that proof to `main`'s bounds.
    pub fn send<F: std::future::Future + Send>(self, future: F) -> SendFuture<F> {
        SendFuture { future }
    }

    /// Boxes a shutdown hook's future.
    pub fn shutdown_future(
        self,
        future: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> crate::close::ShutdownFuture {
        Box::pin(future)
    }
}

pin_project_lite::pin_project! {
    #[doc(hidden)]
    /// A future that [`Checked::send`] has checked to be `Send`.
    pub struct SendFuture<F> {
        #[pin]
        future: F,
    }
}

// SAFETY: the only way to make a `SendFuture<F>` is `Checked::send`, which requires
// `F: Send`; so every `SendFuture` that exists wraps a `Send` future. (The impl exists so
// that `main`'s `Send` bound holds without repeating the error `send` already reported.)
#[allow(unsafe_code)]
unsafe impl<F> Send for SendFuture<F> {}

impl<F: std::future::Future> std::future::Future for SendFuture<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.project().future.poll(cx)
    }
}
