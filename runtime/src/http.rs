//! HTTP handlers (feature `http`): `async fn(Request, &S) -> Result<impl IntoResponse, E>`
//! behind API Gateway (REST and HTTP APIs), an Application Load Balancer or a function URL.
//!
//! `lambda_http`'s adapter turns the Lambda event into an `http::Request` (with the
//! invocation's `Context` in its extensions, see [`RequestExt`](lambda_http::RequestExt))
//! and the response back into the shape the event source expects. The adapter runs here,
//! over a type-erased handler, so it is compiled once in this crate; the user's crate
//! instantiates only the typed shim in `Builder::run_http`. Around it, the same state,
//! deadline guard, defer queue and shutdown as for plain events.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, IntoResponse, Request, Response};
use lambda_runtime::tower::Service;
use lambda_runtime::{Diagnostic, LambdaEvent};

use crate::builder::Builder;
use crate::diagnose::diagnose;
use crate::erase::{environment_cell, event, state};
use crate::lifecycle::errors::{self, INVALID_RESPONSE};
use crate::lifecycle::function::{BoxFuture, Handler};
use crate::lifecycle::respond::Reply;
use crate::lifecycle::start::start;

/// The user's HTTP handler with its types erased.
type HttpHandler =
    Arc<dyn Fn(Request) -> BoxFuture<Result<Response<Body>, Diagnostic>> + Send + Sync>;

impl<S: Send + Sync + 'static> Builder<S> {
    /// Runs an HTTP `handler` (feature `http`) as this process's Lambda function until
    /// shutdown: behind API Gateway (REST or HTTP API), an ALB or a function URL.
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn run_http<H, HFut, R, E>(self, handler: H) -> ExitCode
    where
        H: Fn(Request, &'static S) -> HFut + Send + Sync + 'static,
        HFut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoResponse + Send + Sync + 'static,
        E: Into<Diagnostic> + Send + 'static,
    {
        let options = self.options;
        let cell = environment_cell::<S>();
        let init = self.init.clone();
        let handler = Arc::new(handler);
        let http: HttpHandler = Arc::new(move |request: Request| {
            let (init, handler) = (init.clone(), handler.clone());
            Box::pin(async move {
                let state = state(options, cell, &init).await?;
                match handler(request, state).await {
                    Ok(response) => Ok(response.into_response().await),
                    Err(error) => Err(diagnose(error)),
                }
            })
        });
        start(self.into_function(cell, adapted(http)))
    }
}

/// The HTTP handler as a handler of Lambda events, through `lambda_http`'s adapter.
fn adapted(http: HttpHandler) -> Handler {
    Box::new(move |invocation| {
        let http = http.clone();
        Box::pin(async move {
            let event: LambdaEvent<LambdaRequest> = event(invocation)?;
            let response = Adapter::from(Erased(http)).call(event).await?;
            match serde_json::to_vec(&response) {
                Ok(bytes) => Ok(Reply::Buffered(bytes)),
                Err(error) => Err(Diagnostic {
                    error_type: errors::error_type(INVALID_RESPONSE),
                    error_message: format!("the HTTP response does not serialize: {error}"),
                }),
            }
        })
    })
}

/// The erased handler as the `tower::Service` that `lambda_http`'s adapter wraps.
#[derive(Clone)]
struct Erased(HttpHandler);

impl Service<Request> for Erased {
    type Response = Response<Body>;
    type Error = Diagnostic;
    type Future = BoxFuture<Result<Response<Body>, Diagnostic>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Diagnostic>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        (self.0)(request)
    }
}
