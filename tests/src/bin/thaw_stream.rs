//! A `#[handler]` that streams its response (`lambda_runtime::StreamResponse`): the event's
//! `chunks` are sent one by one.

use lambda_runtime::streaming::{Body, Response, channel};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;

#[derive(Deserialize)]
struct Command {
    chunks: Vec<String>,
}

#[handler]
async fn handle(event: LambdaEvent<Command>) -> Result<Response<Body>, Error> {
    let (mut sender, body) = channel();
    tokio::spawn(async move {
        for chunk in event.payload.chunks {
            if sender.send_data(chunk.into()).await.is_err() {
                return;
            }
        }
    });
    Ok(Response::from(body))
}
