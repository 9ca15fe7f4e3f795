//! HTTP handlers (feature `http`): `async fn(Request, &S) -> Result<impl IntoResponse, E>`
//! behind API Gateway (REST and HTTP APIs), an Application Load Balancer or a function URL.
//!
//! `lambda_http`'s adapter turns the Lambda event into an `http::Request` (with the
//! invocation's `Context` in its extensions, see [`RequestExt`](lambda_http::RequestExt))
//! and the response back into the shape the event source expects; around it, the same
//! state, deadline guard, defer queue and shutdown as for plain events.

use std::future::Future;
use std::process::ExitCode;

use lambda_http::{Adapter, IntoResponse, Request, RequestExt};
use lambda_runtime::Diagnostic;

use crate::checks::Checked;
use crate::close::ShutdownFn;
use crate::init::InitError;
use crate::run::{Options, environment_cell, guarded, start};

impl Checked {
    /// The generated `main` of an HTTP handler.
    pub fn main_http<S, I, IFut, H, HFut, R, E>(
        self,
        options: Options,
        init: I,
        handler: H,
        shutdown: Option<ShutdownFn<S>>,
    ) -> ExitCode
    where
        S: Send + Sync + 'static,
        I: Fn() -> IFut + Clone + Send + Sync + 'static,
        IFut: Future<Output = Result<S, InitError>> + Send + 'static,
        H: Fn(Request, &'static S) -> HFut + Clone + Send + Sync + 'static,
        HFut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoResponse + Send + Sync + 'static,
        E: Into<Diagnostic> + Send + 'static,
    {
        let cell = environment_cell::<S>();
        let service = {
            let init = init.clone();
            lambda_http::service_fn(move |request: Request| {
                let deadline_ms = request
                    .lambda_context_ref()
                    .map_or(0, |context| context.deadline);
                let handler = handler.clone();
                guarded(options, cell, init.clone(), deadline_ms, move |state| {
                    handler(request, state)
                })
            })
        };
        start(options, cell, init, shutdown, Adapter::from(service))
    }
}
