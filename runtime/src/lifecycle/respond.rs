//! Answering an invocation: the serialized response, a streamed response, or an error.

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use lambda_runtime::{Diagnostic, MetadataPrelude};
use lambda_runtime_api_client::body::Body;
use std::pin::Pin;

use crate::lifecycle::api::{Api, answer};

/// A stream of response chunks, its item types erased.
pub(crate) type ByteStream =
    Pin<Box<dyn Stream<Item = Result<Bytes, lambda_runtime::Error>> + Send>>;

/// The handler's response, serialized by the typed shim.
pub enum Reply {
    /// The whole response body (JSON), as serialized (a `Vec`: turning it into `Bytes`
    /// would cost an allocation whenever its capacity exceeds its length).
    Buffered(Vec<u8>),
    /// A streamed response (`lambda_runtime::StreamResponse`): its prelude and chunks.
    /// Boxed, so that every invocation's future does not make room for a prelude.
    Streaming(Box<(MetadataPrelude, ByteStream)>),
}

/// Posts the answer for `request_id`.
pub(crate) async fn respond(
    api: &Api,
    request_id: &str,
    invocation_id: Option<&str>,
    reply: Result<Reply, Diagnostic>,
) {
    let request = answer(request_id, invocation_id, "response");
    match reply {
        Ok(Reply::Buffered(body)) => {
            let request = request
                .header("content-type", "application/json")
                .body(Body::from(body));
            api.send("response", request).await;
        }
        Ok(Reply::Streaming(streamed_reply)) => {
            let (prelude, stream) = *streamed_reply;
            let body = match streamed(prelude, stream) {
                Ok(body) => body,
                Err(error) => {
                    let diagnostic = Diagnostic {
                        error_type: crate::lifecycle::errors::error_type(
                            crate::lifecycle::errors::INVALID_RESPONSE,
                        ),
                        error_message: format!(
                            "the streamed response's metadata prelude does not serialize: {error}"
                        ),
                    };
                    api.error(request_id, invocation_id, &diagnostic).await;
                    return;
                }
            };
            // https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html#runtimes-custom-response-streaming
            let request = request
                .header("Lambda-Runtime-Function-Response-Mode", "streaming")
                .header("Transfer-Encoding", "chunked")
                .header(
                    "Trailer",
                    "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
                )
                .header(
                    "Content-Type",
                    "application/vnd.awslambda.http-integration-response",
                )
                .body(body);
            api.send("streamed response", request).await;
        }
        Err(diagnostic) => {
            tracing::error!(error_type = %diagnostic.error_type, "{}", diagnostic.error_message);
            api.error(request_id, invocation_id, &diagnostic).await;
        }
    }
}

/// The streamed body: the JSON prelude, eight NUL bytes, the chunks; an error mid-stream
/// ends it with Lambda's error trailers.
fn streamed(
    mut prelude: MetadataPrelude,
    mut stream: ByteStream,
) -> Result<Body, serde_json::Error> {
    prelude
        .headers
        .entry(http::header::CONTENT_TYPE)
        .or_insert(http::HeaderValue::from_static("application/octet-stream"));
    let prelude = serde_json::to_vec(&prelude)?;
    let (mut sender, body) = Body::channel();
    tokio::spawn(async move {
        if sender.send_data(prelude.into()).await.is_err()
            || sender.send_data(Bytes::from_static(&[0; 8])).await.is_err()
        {
            return;
        }
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    if sender.send_data(chunk).await.is_err() {
                        tracing::error!("the Runtime API stopped reading the streamed response");
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "the streamed response failed mid-stream");
                    let mut trailers = http::HeaderMap::new();
                    let body = base64::engine::general_purpose::STANDARD.encode(error.to_string());
                    trailers.insert(
                        "lambda-runtime-function-error-type",
                        http::HeaderValue::from_static("Runtime.StreamError"),
                    );
                    if let Ok(value) = http::HeaderValue::from_str(&body) {
                        trailers.insert("lambda-runtime-function-error-body", value);
                    }
                    let _ = sender.send_trailers(trailers).await;
                    return;
                }
            }
        }
    });
    Ok(body)
}
