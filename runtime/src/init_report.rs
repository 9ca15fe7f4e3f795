//! Reporting a failed eager init to `POST /2018-06-01/runtime/init/error`.
//!
//! `lambda_runtime` 1.5 sends that report only on its SnapStart path; for any other init
//! failure the process just exits and Lambda shows a bare `Runtime.ExitError`. We send it
//! ourselves with the runtime's own API client, which resolves `AWS_LAMBDA_RUNTIME_API`
//! in both forms it takes (`host:port` on AWS, `http://host:port/prefix` under
//! cargo-lambda).

use http::Method;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};

use crate::init::InitError;

/// Posts `error` as this environment's init error. Returns whether the Runtime API
/// accepted it; a failure to report is logged, since the process exits either way.
pub(crate) async fn report_init_error(error: &InitError) -> bool {
    let body = serde_json::json!({
        "errorType": error.error_type,
        "errorMessage": error.message,
        "stackTrace": [],
    });
    let request = build_request()
        .method(Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()));
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the init error report");
            return false;
        }
    };
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        tracing::error!("AWS_LAMBDA_RUNTIME_API is not set: the init error cannot be reported");
        return false;
    }
    let client = PooledClient::builder().build();
    match client.call(request).await {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::error!(status = %response.status(), "the Runtime API refused the init error report");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the Runtime API to report the init error");
            false
        }
    }
}
