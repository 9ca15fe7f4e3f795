//! Type erasure: the only generic code a function instantiates in the user's crate,
//! between the user's types and the loop's erased [`Function`]. Per invocation it
//! deserializes the event, builds the state on first use under `lazy`, calls the handler
//! and serializes the response; everything else — the loop, the deadline guard, defer,
//! answering, shutdown — is `crate::lifecycle`, compiled once.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use lambda_runtime::{
    Diagnostic, FunctionResponse, IntoFunctionResponse, LambdaEvent, LambdaInvocation,
};
use serde::{Deserialize, Serialize};

use crate::diagnose::diagnose;
use crate::init::InitError;
use crate::lifecycle::errors::{self, INVALID_EVENT, INVALID_RESPONSE};
use crate::lifecycle::function::{BoxFuture, EagerInit, Handler, Hook, Options};
use crate::lifecycle::respond::Reply;
use crate::state::StateCell;

/// The init with its types erased, shared by eager init and lazy retries.
pub(crate) type SharedInit<S> = Arc<dyn Fn() -> BoxFuture<Result<S, InitError>> + Send + Sync>;

/// The shutdown hook with its types erased.
pub(crate) type ShutdownHook<S> = Box<dyn FnOnce(&'static S) -> BoxFuture<()> + Send>;

/// The handler as the loop calls it: the invocation in, the serialized answer out.
pub(crate) fn typed_handler<S, H, HFut, A, R, E, B, St, D, SE>(
    options: Options,
    cell: &'static StateCell<S>,
    init: SharedInit<S>,
    handler: H,
) -> Handler
where
    S: Send + Sync + 'static,
    H: Fn(LambdaEvent<A>, &'static S) -> HFut + Send + Sync + 'static,
    HFut: Future<Output = Result<R, E>> + Send + 'static,
    E: Into<Diagnostic> + Send + 'static,
    A: for<'de> Deserialize<'de> + Send + 'static,
    R: IntoFunctionResponse<B, St> + Send + 'static,
    B: Serialize + Send + 'static,
    St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
    D: Into<Bytes> + Send + 'static,
    SE: Into<lambda_runtime::Error> + Send + Debug + 'static,
{
    let handler = Arc::new(handler);
    Box::new(move |invocation: LambdaInvocation| {
        // The event is read before any future is made, and the state taken at once when it
        // exists: the boxed future then holds the handler's own future and nothing more
        // (futures that carry the invocation are large, and moving them costs).
        let event = match event::<A>(invocation) {
            Ok(event) => event,
            Err(diagnostic) => return Box::pin(std::future::ready(Err(diagnostic))),
        };
        match cell.get() {
            Some(state) => {
                let answer = handler(event, state);
                Box::pin(async move { answered(answer.await) })
            }
            None => {
                let (init, handler) = (init.clone(), handler.clone());
                Box::pin(async move {
                    let state = state(options, cell, &init).await?;
                    answered(handler(event, state).await)
                })
            }
        }
    })
}

/// The handler's outcome as the invocation's answer.
fn answered<R, B, St, D, SE, E>(outcome: Result<R, E>) -> Result<Reply, Diagnostic>
where
    R: IntoFunctionResponse<B, St>,
    B: Serialize,
    St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
    D: Into<Bytes> + Send,
    SE: Into<lambda_runtime::Error> + Send + Debug,
    E: Into<Diagnostic> + 'static,
{
    match outcome {
        Ok(response) => reply(response),
        Err(error) => Err(diagnose(error)),
    }
}

/// The cell that holds the state for the life of the process — the execution
/// environment. Leaked rather than `static` because a `static` cannot be generic; `main`
/// runs once per process, so this is exactly one allocation, never freed, like a static.
pub(crate) fn environment_cell<S>() -> &'static StateCell<S> {
    Box::leak(Box::new(StateCell::new()))
}

/// Init in Lambda's INIT phase, unless `lazy`.
pub(crate) fn eager_init<S: Send + Sync + 'static>(
    options: Options,
    cell: &'static StateCell<S>,
    init: SharedInit<S>,
) -> Option<EagerInit> {
    if options.lazy {
        return None;
    }
    let name = options.init_name.unwrap_or_default();
    Some(Box::new(move || {
        Box::pin(async move {
            cell.get_or_init(name, || init())
                .await
                .map(drop)
                .map_err(Diagnostic::from)
        })
    }))
}

/// The state: built already, or built now (lazy init, under the invocation's deadline
/// guard; concurrent first invocations share one attempt, and its failure).
pub(crate) async fn state<S>(
    options: Options,
    cell: &'static StateCell<S>,
    init: &SharedInit<S>,
) -> Result<&'static S, Diagnostic> {
    if let Some(state) = cell.get() {
        return Ok(state);
    }
    let started = Instant::now();
    let name = options.init_name.unwrap_or_default();
    let state = cell
        .get_or_init(name, || init())
        .await
        .map_err(lazy_init_failed)?;
    lazy_init_finished(options, started);
    Ok(state)
}

fn lazy_init_failed(error: InitError) -> Diagnostic {
    // Not cached: the next invocation tries again.
    tracing::error!(error_type = %error.error_type, "{}", error.message);
    error.into()
}

fn lazy_init_finished(options: Options, started: Instant) {
    if let Some(init) = options.init_name {
        tracing::info!(
            init,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "lazy init finished"
        );
    }
}

/// The shutdown hook, run only if the state was built.
pub(crate) fn hook<S: Send + Sync + 'static>(
    cell: &'static StateCell<S>,
    shutdown: Option<ShutdownHook<S>>,
) -> Option<Hook> {
    let shutdown = shutdown?;
    Some(Box::new(move || {
        Box::pin(async move {
            if let Some(state) = cell.get() {
                shutdown(state).await;
            }
        })
    }))
}

/// The invocation's event as the handler's type; an event that does not fit is the
/// invocation's error, with the path to the field at fault.
pub(crate) fn event<A: for<'de> Deserialize<'de>>(
    invocation: LambdaInvocation,
) -> Result<LambdaEvent<A>, Diagnostic> {
    let body = &mut serde_json::Deserializer::from_slice(&invocation.body);
    match serde_path_to_error::deserialize(body) {
        Ok(payload) => Ok(LambdaEvent::new(payload, invocation.context)),
        Err(error) => Err(invalid_event(error)),
    }
}

fn invalid_event(error: serde_path_to_error::Error<serde_json::Error>) -> Diagnostic {
    let path = error.path().to_string();
    let at = if path == "." {
        String::new()
    } else {
        format!(" at `{path}`")
    };
    let message = format!(
        "the event does not deserialize into the handler's payload type{at}: {}; the handler was not called",
        error.inner()
    );
    tracing::error!("{message}");
    Diagnostic {
        error_type: errors::error_type(INVALID_EVENT),
        error_message: message,
    }
}

/// The handler's response, serialized (or its stream, erased).
fn reply<R, B, St, D, SE>(response: R) -> Result<Reply, Diagnostic>
where
    R: IntoFunctionResponse<B, St>,
    B: Serialize,
    St: Stream<Item = Result<D, SE>> + Unpin + Send + 'static,
    D: Into<Bytes> + Send,
    SE: Into<lambda_runtime::Error> + Send + Debug,
{
    match response.into_response() {
        FunctionResponse::BufferedResponse(body) => match serde_json::to_vec(&body) {
            Ok(bytes) => Ok(Reply::Buffered(bytes)),
            Err(error) => Err(invalid_response(error)),
        },
        FunctionResponse::StreamingResponse(response) => {
            let stream = response
                .stream
                .map(|item| item.map(Into::into).map_err(Into::into));
            Ok(Reply::Streaming(Box::new((
                response.metadata_prelude,
                Box::pin(stream),
            ))))
        }
    }
}

fn invalid_response(error: serde_json::Error) -> Diagnostic {
    Diagnostic {
        error_type: errors::error_type(INVALID_RESPONSE),
        error_message: format!("the handler's response does not serialize to JSON: {error}"),
    }
}
