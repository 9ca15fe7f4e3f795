mod function {
    use lambda_thaw::{Error, LambdaEvent, handler};

    #[handler]
    async fn handle(_event: LambdaEvent<()>) -> Result<(), Error> {
        Ok(())
    }
}
