// The state taken as `&S` and moved into deferred work: one error, at the state, saying to
// take it as `&'static S` — not rustc's "borrowed data escapes outside of function".
use lambda_thaw::{Error, LambdaEvent, handler};

struct Audit;

impl Audit {
    async fn record(&self, _what: &str) {}
}

async fn setup() -> Result<Audit, Error> {
    Ok(Audit)
}

#[handler(init = setup)]
async fn handle(event: LambdaEvent<serde_json::Value>, audit: &Audit) -> Result<serde_json::Value, Error> {
    lambda_thaw::defer(async move {
        audit.record("order").await;
    })?;
    Ok(event.payload)
}
