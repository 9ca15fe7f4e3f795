//! The loopback HTTP server: Runtime API (`/2018-06-01`) and Extensions API (`/2020-01-01`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::outcome::{FunctionError, Outcome, to_epoch_ms};
use crate::state::Shared;

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
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let shared = shared.clone();
                        let prefix = prefix.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let shared = shared.clone();
                                let prefix = prefix.clone();
                                async move { Ok::<_, Infallible>(route(&shared, &prefix, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
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

async fn route(shared: &Shared, prefix: &str, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    let Some(path) = path.strip_prefix(prefix) else {
        return status(StatusCode::NOT_FOUND, format!("no route for {path}"));
    };
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
            next_invocation(shared).await
        }
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "response"]) => {
            let id = id.to_string();
            let body = read_body(req).await;
            accept_outcome(shared, &id, Outcome::Response(body))
        }
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "error"]) => {
            let id = id.to_string();
            let error = read_error(req).await;
            accept_outcome(shared, &id, Outcome::Error(error))
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            let error = read_error(req).await;
            shared.init_error(error);
            status(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.into())
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

async fn next_invocation(shared: &Shared) -> Reply {
    let rx = shared.runtime_next();
    let Ok(dispatch) = rx.await else {
        return status(StatusCode::GONE, "environment is gone".into());
    };
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
    set(
        "lambda-runtime-trace-id",
        format!("Root=1-{};Sampled=0", dispatch.request_id),
    );
    // What a test asked for instead: malformed or missing headers, a relative deadline.
    for (name, value) in &dispatch.headers {
        let Ok(name) = hyper::header::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        match value.as_deref().map(HeaderValue::from_str) {
            Some(Ok(value)) => {
                headers.insert(name, value);
            }
            Some(Err(_)) => {}
            None => {
                headers.remove(name);
            }
        }
    }
    reply
}

fn accept_outcome(shared: &Shared, id: &str, outcome: Outcome) -> Reply {
    if shared.respond(id, outcome) {
        status(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.into())
    } else {
        status(
            StatusCode::BAD_REQUEST,
            format!("invocation `{id}` is unknown or was already answered"),
        )
    }
}

async fn register(shared: &Shared, req: Request<Incoming>) -> Reply {
    let name = header(&req, "lambda-extension-name");
    let body = read_body(req).await;
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

async fn read_body(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// Reads `{"errorType", "errorMessage"}`, falling back to the error-type header.
async fn read_error(req: Request<Incoming>) -> FunctionError {
    let header_type = header(&req, "lambda-runtime-function-error-type");
    let body = read_body(req).await;
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
    FunctionError::new(
        field("errorType").unwrap_or(header_type),
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(&body).into()),
    )
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
