use lambda_thaw::{Error, LambdaEvent, handler};

struct Pool;
struct Config;

async fn setup() -> Result<Pool, Error> {
    Ok(Pool)
}

#[handler(init = setup)]
async fn handle(_event: LambdaEvent<()>, _config: &Config) -> Result<(), Error> {
    Ok(())
}
