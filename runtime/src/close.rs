//! Closing the state when Lambda shuts the environment down.
//!
//! Lambda sends SIGTERM (then SIGKILL about 500 ms later) only to a function that
//! registered an extension; the runtime registers one (while init runs) when there is
//! something to close: the `shutdown = path` hook, or else the state itself when it
//! implements [`Close`] — an sqlx pool does (feature `sqlx`), so its connections end with
//! a clean disconnect instead of being abandoned when the process is killed. In-flight
//! invocations answer first (see `lifecycle/shutdown.rs`).

use std::future::Future;
use std::pin::Pin;

use crate::probe::Probe;

/// A state that knows how to close itself at shutdown. Implemented for `sqlx::Pool`
/// (feature `sqlx`); implement it for a state struct to close what it holds:
///
/// ```
/// # struct Pool;
/// # impl Pool { async fn close(&self) {} }
/// struct Db { pool: Pool /* e.g. sqlx::PgPool */ }
///
/// impl lambda_thaw::Close for Db {
///     async fn close(&self) {
///         self.pool.close().await
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `lambda_thaw::Close`",
    label = "nothing here knows how to close `{Self}`",
    note = "implement `lambda_thaw::Close` for your state, or pass `.shutdown(|state| async move {{ … }})`"
)]
pub trait Close: Send + Sync {
    /// Closes the resources; called at most once, within Lambda's shutdown grace period.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
impl<DB: sqlx::Database> Close for sqlx::Pool<DB> {
    async fn close(&self) {
        sqlx::Pool::close(self).await
    }
}

/// The future a shutdown hook returns.
pub(crate) type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A shutdown hook for state `S`.
pub(crate) type ShutdownFn<S> = fn(&'static S) -> ShutdownFuture;

/// Chosen when `S: Close`: the hook closes the state. Asked as
/// `(&&Probe::<S>::new()).__lambda_thaw_close()`.
pub trait ViaClose<S> {
    /// `Some` hook that closes the state.
    fn __lambda_thaw_close(&self) -> Option<ShutdownFn<S>>;
}

impl<S: Close + 'static> ViaClose<S> for &Probe<S> {
    fn __lambda_thaw_close(&self) -> Option<ShutdownFn<S>> {
        Some(|state: &'static S| Box::pin(state.close()))
    }
}

/// Chosen otherwise: nothing to close.
pub trait ViaNoClose<S> {
    /// `None`.
    fn __lambda_thaw_close(&self) -> Option<ShutdownFn<S>>;
}

impl<S> ViaNoClose<S> for Probe<S> {
    fn __lambda_thaw_close(&self) -> Option<ShutdownFn<S>> {
        None
    }
}
