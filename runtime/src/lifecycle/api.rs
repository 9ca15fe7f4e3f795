//! The Runtime API (`/2018-06-01`) and the Extensions API (`/2020-01-01`), spoken through
//! `lambda_runtime_api_client`, which resolves `AWS_LAMBDA_RUNTIME_API` in both forms it
//! takes (`host:port` on AWS, `http://host:port/prefix` under cargo-lambda).
//!
//! Every call here reports its own failure and returns; none of them can end the loop.

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use lambda_runtime::Diagnostic;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{BoxError, PooledClient, build_request};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
pub(crate) const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const REGISTER: &str = "/2020-01-01/extension/register";
const EXTENSION_NEXT: &str = "/2020-01-01/extension/event/next";

/// Echoed on `/response` and `/error` so that Lambda can reject a stale answer.
pub(crate) const INVOCATION_ID: &str = "lambda-runtime-invocation-id";

/// The Runtime API client of this environment, shared by its workers.
pub(crate) struct Api {
    client: PooledClient,
}

impl Api {
    /// A client with one pooled connection per worker.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            client: PooledClient::builder().with_pool_size(workers).build(),
        }
    }

    /// `GET next`: the next event's headers and body. A status other than 200 is an error
    /// carrying the status and what the API said.
    pub(crate) async fn next(&self) -> Result<(http::response::Parts, Bytes), BoxError> {
        let request = build_request()
            .method(Method::GET)
            .uri(NEXT)
            .body(Body::empty())?;
        let response = self.client.call(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        if !parts.status.is_success() {
            let said = String::from_utf8_lossy(&body);
            return Err(format!("`GET {NEXT}` answered {}: {}", parts.status, said.trim()).into());
        }
        Ok((parts, body))
    }

    /// Sends a request built for the Runtime API; logs a refusal or a transport error.
    pub(crate) async fn send(&self, what: &str, request: Result<http::Request<Body>, http::Error>) {
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(%error, "cannot build the {what} request");
                return;
            }
        };
        match self.client.call(request).await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                let status = response.status();
                let said = match response.into_body().collect().await {
                    Ok(body) => String::from_utf8_lossy(&body.to_bytes()).trim().to_string(),
                    Err(_) => String::new(),
                };
                // 413: the response is over Lambda's limit; 410: the invocation timed out.
                tracing::error!(%status, said, "the Runtime API refused the {what}");
            }
            Err(error) => {
                tracing::error!(%error, "cannot reach the Runtime API to send the {what}");
            }
        }
    }

    /// `POST /invocation/{id}/error`.
    pub(crate) async fn error(
        &self,
        request_id: &str,
        invocation_id: Option<&str>,
        diagnostic: &Diagnostic,
    ) {
        let request = answer(request_id, invocation_id, "error")
            .header("lambda-runtime-function-error-type", "unhandled")
            .header("content-type", "application/json")
            .body(Body::from(error_body(diagnostic)));
        self.send("error report", request).await
    }

    /// `POST /init/error`: this environment's init failed.
    pub(crate) async fn init_error(&self, diagnostic: &Diagnostic) {
        let request = build_request()
            .method(Method::POST)
            .uri(INIT_ERROR)
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
            .header("content-type", "application/json")
            .body(Body::from(init_error_body(diagnostic)));
        self.send("init error report", request).await
    }

    /// Registers an internal extension that subscribes to nothing, so that Lambda sends
    /// SIGTERM at shutdown, and parks it in `event/next` (init waits for that).
    pub(crate) async fn register_shutdown_extension(&'static self) -> Result<(), BoxError> {
        let request = build_request()
            .method(Method::POST)
            .uri(REGISTER)
            .header("Lambda-Extension-Name", "lambda-thaw-shutdown")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"events":[]}"#))?;
        let response = self.client.call(request).await?;
        if !response.status().is_success() {
            return Err(format!(
                "the Extensions API refused the registration: {}",
                response.status()
            )
            .into());
        }
        let id = response
            .headers()
            .get("lambda-extension-identifier")
            .and_then(|v| v.to_str().ok())
            .ok_or("the Extensions API gave no `Lambda-Extension-Identifier`")?
            .to_string();
        // An extension that subscribes to nothing is never answered: this poll only tells
        // Lambda that the extension's init is over.
        tokio::spawn(async move {
            let request = build_request()
                .method(Method::GET)
                .uri(EXTENSION_NEXT)
                .header("Lambda-Extension-Identifier", id)
                .body(Body::empty());
            if let Ok(request) = request {
                let _ = self.client.call(request).await;
            }
        });
        Ok(())
    }
}

/// The body of `POST /invocation/{id}/error`.
pub(crate) fn error_body(diagnostic: &Diagnostic) -> String {
    serde_json::json!({
        "errorType": diagnostic.error_type,
        "errorMessage": diagnostic.error_message,
    })
    .to_string()
}

/// The body of `POST /init/error`.
pub(crate) fn init_error_body(diagnostic: &Diagnostic) -> String {
    serde_json::json!({
        "errorType": diagnostic.error_type,
        "errorMessage": diagnostic.error_message,
        "stackTrace": [],
    })
    .to_string()
}

/// The path of `POST /invocation/{id}/{outcome}` (`response` or `error`).
/// The invocation id header (Lambda Managed Instances), which answers must carry back.
pub(crate) fn invocation_id(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(INVOCATION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(crate) fn invocation_path(request_id: &str, outcome: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{request_id}/{outcome}")
}

/// `POST /invocation/{id}/{outcome}` (`response` or `error`), with the invocation id echoed.
pub(crate) fn answer(
    request_id: &str,
    invocation_id: Option<&str>,
    outcome: &str,
) -> http::request::Builder {
    let request = build_request()
        .method(Method::POST)
        .uri(invocation_path(request_id, outcome));
    match invocation_id {
        Some(id) => request.header(INVOCATION_ID, id),
        None => request,
    }
}
