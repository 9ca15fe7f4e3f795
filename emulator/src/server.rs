//! The loopback HTTP server: Runtime API (`/2018-06-01`) and Extensions API (`/2020-01-01`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::limits::{
    ACCEPT_BACKOFF, INVOCATION_ID, MAX_OTHER_BODY, MAX_PAYLOAD, MAX_STREAMED_RESPONSE,
    OVERSIZED_RESPONSE, READ_TIMEOUT, request_entity_too_large,
};
use crate::outcome::{FunctionError, Outcome, to_epoch_ms};
use crate::state::{Dispatch, Peer, Shared};

type Reply = Response<Full<Bytes>>;

/// A running API server. Dropping it closes the listener and every open connection,
/// so a killed environment's half-open long polls never leak into its successor.
pub(crate) struct ApiServer {
    pub(crate) addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ApiServer {
    pub(crate) async fn start(shared: Arc<Shared>, prefix: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            // Connection tasks live in this set: aborting the accept task drops them all.
            let mut connections = JoinSet::new();
            let mut backoff = ACCEPT_BACKOFF.0;
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let stream = match accepted {
                            Ok((stream, _)) => {
                                backoff = ACCEPT_BACKOFF.0;
                                stream
                            }
                            // Out of file descriptors (or another resource): retrying at
                            // once would spin at full CPU until one is freed.
                            Err(_) => {
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                                continue;
                            }
                        };
                        let _ = stream.set_nodelay(true);
                        let peer = Peer::of(&stream);
                        let shared = shared.clone();
                        let prefix = prefix.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let shared = shared.clone();
                                let prefix = prefix.clone();
                                let peer = peer.clone();
                                async move { Ok::<_, Infallible>(route(&shared, &prefix, peer, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(READ_TIMEOUT)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, accept })
    }
}

async fn route(shared: &Shared, prefix: &str, peer: Peer, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    let Some(path) = path.strip_prefix(prefix) else {
        return status(StatusCode::NOT_FOUND, format!("no route for {path}"));
    };
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
            next_invocation(shared, peer).await
        }
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "response"]) => {
            let id = id.to_string();
            invocation_response(shared, &id, req).await
        }
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "error"]) => {
            let id = id.to_string();
            let invocation_id = invocation_id(&req);
            match read_error(req).await {
                Ok(error) => accept_outcome(shared, &id, invocation_id, Outcome::Error(error)),
                Err(unreadable) => unreadable.reply(),
            }
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            // After init, Lambda refuses the transition (RIE `rapi/handler/initerror.go`).
            if shared.lock().first_next_at.is_some() {
                return error_json(
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
                );
            }
            match read_error(req).await {
                Ok(error) => {
                    shared.init_error(error);
                    status(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.into())
                }
                Err(unreadable) => unreadable.reply(),
            }
        }
        (Method::POST, ["2020-01-01", "extension", "register"]) => register(shared, req).await,
        (Method::GET, ["2020-01-01", "extension", "event", "next"]) => {
            let id = header(&req, "lambda-extension-identifier");
            match shared.extension_next(&id) {
                Some(rx) => match rx.await {
                    Ok(event) => json(StatusCode::OK, event.to_string()),
                    Err(_) => status(StatusCode::GONE, "environment is gone".into()),
                },
                None => status(
                    StatusCode::FORBIDDEN,
                    format!("unknown extension id `{id}`"),
                ),
            }
        }
        (_, _) => status(StatusCode::NOT_FOUND, format!("no route for {path}")),
    }
}

/// Waits for an event; if the poller goes away first, an event already given to it goes
/// to the next poller.
struct Waiting<'a> {
    shared: &'a Shared,
    rx: Option<tokio::sync::oneshot::Receiver<Dispatch>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(dispatch) = rx.try_recv() {
                self.shared.hand_back(dispatch);
            }
        }
    }
}

async fn next_invocation(shared: &Shared, peer: Peer) -> Reply {
    let mut waiting = Waiting {
        rx: Some(shared.runtime_next(peer.clone())),
        shared,
    };
    let Some(rx) = waiting.rx.as_mut() else {
        return status(StatusCode::GONE, "environment is gone".into());
    };
    let received = loop {
        // Subscribed before the check, so that a failure that starts meanwhile is seen.
        let mut changes = shared.subscribe();
        if let Some(code) = shared.failing_poll() {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return status(
                code,
                "the Runtime API fails on purpose (a test asked)".into(),
            );
        }
        tokio::select! {
            received = &mut *rx => break received,
            _ = changes.changed() => {}
        }
    };
    waiting.rx = None;
    let Ok(dispatch) = received else {
        return status(StatusCode::GONE, "environment is gone".into());
    };
    if peer.is_gone() {
        // Closed while the event was on its way: the next poller gets it.
        shared.hand_back(dispatch);
        return status(StatusCode::GONE, "the poller went away".into());
    }
    shared.handed_out(&dispatch.request_id);
    let mut reply = Response::new(Full::new(dispatch.body.clone()));
    let headers = reply.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", dispatch.request_id.clone());
    set(
        "lambda-runtime-deadline-ms",
        to_epoch_ms(dispatch.deadline).to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        dispatch.function_arn.clone(),
    );
    set("lambda-runtime-trace-id", dispatch.trace_id.clone());
    // What a test asked for instead: malformed or missing headers, a relative deadline.
    for (name, value) in &dispatch.headers {
        match value {
            Some(value) => {
                headers.insert(name, value.clone());
            }
            None => {
                headers.remove(name);
            }
        }
    }
    reply
}

/// The `lambda-runtime-invocation-id` an answer carries (Lambda Managed Instances send one
/// with each event; the answer must carry it back).
fn invocation_id(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get(INVOCATION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn accept_outcome(
    shared: &Shared,
    id: &str,
    invocation_id: Option<String>,
    outcome: Outcome,
) -> Reply {
    if shared.respond(id, invocation_id, outcome) {
        status(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.into())
    } else {
        // An unknown id, or a second answer for one (RIE `rapi/rendering/render_error.go`,
        // `RenderInvalidRequestID`).
        error_json(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        )
    }
}

/// `POST /invocation/{id}/response`, buffered (at most [`MAX_PAYLOAD`]) or streamed
/// (`Lambda-Runtime-Function-Response-Mode: streaming`, at most
/// [`MAX_STREAMED_RESPONSE`], a mid-stream failure reported in the error trailers).
async fn invocation_response(shared: &Shared, id: &str, req: Request<Incoming>) -> Reply {
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"));
    let invocation_id = invocation_id(&req);
    let read = if streaming {
        read_body(req, MAX_STREAMED_RESPONSE, None).await
    } else {
        read_body(req, MAX_PAYLOAD, Some(READ_TIMEOUT)).await
    };
    match read {
        Ok(body) => match body.trailer_error() {
            Some(error) => accept_outcome(shared, id, invocation_id, Outcome::Error(error)),
            None => accept_outcome(shared, id, invocation_id, Outcome::Response(body.bytes)),
        },
        Err(Unreadable::TooLarge) => {
            let limit = if streaming {
                MAX_STREAMED_RESPONSE
            } else {
                MAX_PAYLOAD
            };
            let error = FunctionError::new(
                OVERSIZED_RESPONSE,
                format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                ),
            );
            // The caller gets the error even though the runtime's request failed.
            shared.respond(id, invocation_id, Outcome::Error(error));
            Unreadable::TooLarge.reply()
        }
        Err(unreadable) => unreadable.reply(),
    }
}

/// A request body the emulator would not take whole.
enum Unreadable {
    /// Longer than the call's limit.
    TooLarge,
    /// The client stopped sending for [`READ_TIMEOUT`].
    Stalled,
    /// The connection failed half-way.
    Broken,
}

impl Unreadable {
    fn reply(self) -> Reply {
        match self {
            Unreadable::TooLarge => {
                let (error_type, message) = request_entity_too_large();
                error_json(StatusCode::PAYLOAD_TOO_LARGE, error_type, &message)
            }
            Unreadable::Stalled => error_json(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "the request body stopped arriving",
            ),
            Unreadable::Broken => error_json(
                StatusCode::BAD_REQUEST,
                "TruncatedHTTPRequest",
                "HTTP request detected as truncated",
            ),
        }
    }
}

/// A body read whole, with its trailers.
struct ReadBody {
    bytes: Bytes,
    trailers: Option<hyper::HeaderMap>,
}

impl ReadBody {
    /// The error a streamed response reported in Lambda's trailers
    /// (`Lambda-Runtime-Function-Error-Type`, `-Error-Body` in base64).
    fn trailer_error(&self) -> Option<FunctionError> {
        let trailers = self.trailers.as_ref()?;
        let error_type = trailers
            .get("lambda-runtime-function-error-type")?
            .to_str()
            .ok()?
            .to_string();
        let body = trailers
            .get("lambda-runtime-function-error-body")
            .and_then(|v| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .ok()
            })
            .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let message = value
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .map_or_else(
                || String::from_utf8_lossy(&body).into_owned(),
                str::to_string,
            );
        Some(FunctionError::new(error_type, message))
    }
}

/// Reads a body of at most `cap` bytes, each next piece within `idle` (if given).
async fn read_body(
    req: Request<Incoming>,
    cap: usize,
    idle: Option<std::time::Duration>,
) -> Result<ReadBody, Unreadable> {
    let mut body = req.into_body();
    let mut bytes = bytes::BytesMut::new();
    let mut trailers = None;
    loop {
        let frame = match idle {
            Some(idle) => tokio::time::timeout(idle, body.frame())
                .await
                .map_err(|_| Unreadable::Stalled)?,
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|_| Unreadable::Broken)?;
        match frame.into_data() {
            Ok(data) => {
                if bytes.len() + data.len() > cap {
                    return Err(Unreadable::TooLarge);
                }
                bytes.extend_from_slice(&data);
            }
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    trailers = Some(map);
                }
            }
        }
    }
    Ok(ReadBody {
        bytes: bytes.freeze(),
        trailers,
    })
}

fn error_json(code: StatusCode, error_type: &str, message: &str) -> Reply {
    json(
        code,
        serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string(),
    )
}

async fn register(shared: &Shared, req: Request<Incoming>) -> Reply {
    let name = header(&req, "lambda-extension-name");
    let body = match read_body(req, MAX_OTHER_BODY, Some(READ_TIMEOUT)).await {
        Ok(body) => body.bytes,
        Err(unreadable) => return unreadable.reply(),
    };
    let events: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| serde_json::from_value(v.get("events")?.clone()).ok())
        .unwrap_or_default();
    let Some(id) = shared.register_extension(&name, &events) else {
        return status(
            StatusCode::FORBIDDEN,
            "extensions must register during init".into(),
        );
    };
    let body = serde_json::json!({
        "functionName": shared.function_name,
        "functionVersion": shared.function_version,
        "handler": "bootstrap",
    });
    let mut reply = json(StatusCode::OK, body.to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        reply
            .headers_mut()
            .insert("lambda-extension-identifier", value);
    }
    reply
}

/// Reads `{"errorType", "errorMessage"}`, falling back to the error-type header.
async fn read_error(req: Request<Incoming>) -> Result<FunctionError, Unreadable> {
    let header_type = header(&req, "lambda-runtime-function-error-type");
    let body = read_body(req, MAX_OTHER_BODY, Some(READ_TIMEOUT))
        .await?
        .bytes;
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
    Ok(FunctionError::new(
        field("errorType").unwrap_or(header_type),
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(&body).into()),
    ))
}

fn header(req: &Request<Incoming>, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn json(code: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = code;
    reply
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    reply
}

fn status(code: StatusCode, message: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(message)));
    *reply.status_mut() = code;
    reply
}
