use lambda_thaw::lambda_http::Request;
use lambda_thaw::{Error, handler};

#[handler]
async fn handle(request: Request, extra: String) -> Result<String, Error> {
    let _ = (request, extra);
    Ok(String::new())
}
