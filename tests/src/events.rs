//! Events as Lambda's sources send them, for the end-to-end tests.

use serde_json::{Value, json};

/// An API Gateway HTTP API (payload v2) request event.
pub fn api_gateway_v2(method: &str, path: &str, body: Option<&Value>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "21/Apr/2020:15:08:21 +0000", "timeEpoch": 1587481701067u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}
