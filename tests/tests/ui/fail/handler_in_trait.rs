use lambda_thaw::{Error, LambdaEvent};

trait Service {
    #[lambda_thaw::handler]
    async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
