// The payload-and-context shape, with and without `Context`, in any order.
use lambda_thaw::{Context, Error};

pub struct State;

fn setup() -> State {
    State
}

#[derive(serde::Deserialize)]
pub struct Order {
    pub item: String,
}

#[allow(dead_code)]
mod payload_context_state {
    use super::{Context, Error, Order, State, setup};

    #[lambda_thaw::handler(init = setup)]
    pub async fn handle(order: Order, context: Context, _state: &State) -> Result<String, Error> {
        Ok(format!("{} {}", order.item, context.request_id))
    }
}

#[allow(dead_code)]
mod state_first {
    use super::{Error, Order, State, setup};

    #[lambda_thaw::handler(init = setup)]
    pub async fn handle(_state: &State, order: Order) -> Result<String, Error> {
        Ok(order.item)
    }
}

#[allow(dead_code)]
mod payload_only {
    use super::Error;

    #[lambda_thaw::handler]
    pub async fn handle(value: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(value)
    }
}

fn main() {}
