// An HTTP handler (feature `http`): the request and the state, in either order.
use lambda_thaw::Error;
use lambda_thaw::lambda_http::{Body, IntoResponse, Request, RequestExt, Response};

pub struct State;

fn setup() -> State {
    State
}

#[allow(dead_code)]
mod with_state {
    use super::{Error, IntoResponse, Request, RequestExt, State, setup};

    #[lambda_thaw::handler(init = setup)]
    pub async fn handle(_state: &State, request: Request) -> Result<impl IntoResponse, Error> {
        Ok(format!("{} {}", request.method(), request.lambda_context().request_id))
    }
}

#[allow(dead_code)]
mod plain {
    use super::{Body, Error, Request, Response};

    #[lambda_thaw::handler]
    pub async fn handle(_request: Request) -> Result<Response<Body>, Error> {
        Ok(Response::new(Body::Empty))
    }
}

fn main() {}
