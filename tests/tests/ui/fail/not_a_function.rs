use lambda_thaw::handler;

#[handler]
struct Handler;
