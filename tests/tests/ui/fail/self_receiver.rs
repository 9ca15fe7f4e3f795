use lambda_thaw::{Error, LambdaEvent, handler};

struct Service;

impl Service {
    #[handler]
    async fn handle(&self, _event: LambdaEvent<()>) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
