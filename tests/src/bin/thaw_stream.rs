//! A `#[handler]` that streams its response (`lambda_runtime::StreamResponse`): the event's
//! `chunks` are sent one by one; `fail_after` aborts the stream after them.

use lambda_runtime::streaming::{Body, Response, channel};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;

#[derive(Deserialize)]
struct Command {
    chunks: Vec<String>,
    /// Abort the stream after the chunks, as a handler whose source fails mid-way.
    #[serde(default)]
    fail_after: bool,
    /// Send the chunks this many times (default once): a response larger than the event.
    repeat: Option<usize>,
}

#[handler]
async fn handle(event: LambdaEvent<Command>) -> Result<Response<Body>, Error> {
    let (mut sender, body) = channel();
    tokio::spawn(async move {
        for _ in 0..event.payload.repeat.unwrap_or(1) {
            for chunk in &event.payload.chunks {
                if sender.send_data(chunk.clone().into()).await.is_err() {
                    return;
                }
            }
        }
        if event.payload.fail_after {
            sender.abort();
        }
    });
    Ok(Response::from(body))
}
