// A handler without init, with a custom error type that converts into `Diagnostic`.
use lambda_thaw::{Diagnostic, LambdaEvent};

pub struct Rejected;

impl From<Rejected> for Diagnostic {
    fn from(_: Rejected) -> Self {
        Diagnostic {
            error_type: "Rejected".into(),
            error_message: "rejected".into(),
        }
    }
}

#[allow(dead_code)]
mod function {
    use super::{LambdaEvent, Rejected};

    #[lambda_thaw::handler]
    async fn handle(event: LambdaEvent<u32>) -> Result<u32, Rejected> {
        if event.payload == 0 { Err(Rejected) } else { Ok(event.payload) }
    }
}

fn main() {}
