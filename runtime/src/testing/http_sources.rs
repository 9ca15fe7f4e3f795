//! HTTP requests as each event source shapes them (feature `http`), for
//! [`Invocation::request`](crate::testing::Invocation::request).

use lambda_http::{Request, RequestExt};
use serde_json::{Value, json};

use crate::lifecycle::context::now_ms;
use crate::testing::Invocation;

/// Where an HTTP request comes from: each source has its own event shape, which
/// `lambda_http` turns into the same `Request` — with the differences (path, stage,
/// query string decoding) that the source brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API (payload format 1.0).
    ApiGatewayV1,
    /// API Gateway HTTP API (payload format 2.0).
    ApiGatewayV2,
    /// Application Load Balancer.
    Alb,
    /// Lambda function URL (payload format 2.0).
    FunctionUrl,
}

impl Invocation {
    /// An HTTP request as `source` would deliver it to this invocation, with the
    /// invocation's context attached (see `lambda_http::RequestExt`). `path` may carry
    /// a query string; `body` is sent as text, with `content-type: application/json`.
    ///
    /// # Panics
    ///
    /// If `lambda_http` cannot read the event this builds (a bug here, not in your code).
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn request(&self, source: Source, method: &str, path: &str, body: Option<&str>) -> Request {
        let event = event(source, method, path, body, &self.context.request_id);
        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("the {source:?} fixture does not parse: {e}"));
        request.with_lambda_context(self.context())
    }
}

fn event(source: Source, method: &str, path: &str, body: Option<&str>, request_id: &str) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let pairs: serde_json::Map<String, Value> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_string(), Value::String(v.to_string()))
        })
        .collect();
    let headers = json!({"content-type": "application/json", "host": "example.execute-api.us-east-1.amazonaws.com"});
    let time_epoch = now_ms();
    match source {
        Source::ApiGatewayV1 => json!({
            "resource": "/{proxy+}",
            "path": raw_path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {},
            "queryStringParameters": if pairs.is_empty() { Value::Null } else { Value::Object(pairs.clone()) },
            "multiValueQueryStringParameters": null,
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "accountId": "000000000000",
                "resourceId": "abc123",
                "stage": "prod",
                "requestId": request_id,
                "requestTimeEpoch": time_epoch,
                "identity": {"sourceIp": "203.0.113.7", "userAgent": "lambda-thaw-testing"},
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "apiId": "example",
                "path": format!("/prod{raw_path}"),
                "protocol": "HTTP/1.1"
            },
            "body": body,
            "isBase64Encoded": false
        }),
        Source::ApiGatewayV2 | Source::FunctionUrl => {
            let domain = if source == Source::FunctionUrl {
                "example.lambda-url.us-east-1.on.aws"
            } else {
                "example.execute-api.us-east-1.amazonaws.com"
            };
            json!({
                "version": "2.0",
                "routeKey": if source == Source::FunctionUrl { "$default".to_string() } else { format!("{method} {raw_path}") },
                "rawPath": raw_path,
                "rawQueryString": query,
                "headers": {"content-type": "application/json", "host": domain},
                "queryStringParameters": if pairs.is_empty() { Value::Null } else { Value::Object(pairs) },
                "requestContext": {
                    "accountId": "000000000000",
                    "apiId": "example",
                    "domainName": domain,
                    "domainPrefix": "example",
                    "http": {
                        "method": method,
                        "path": raw_path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.7",
                        "userAgent": "lambda-thaw-testing"
                    },
                    "requestId": request_id,
                    "routeKey": "$default",
                    "stage": "$default",
                    "time": "01/Jan/2026:00:00:00 +0000",
                    "timeEpoch": time_epoch
                },
                "body": body,
                "isBase64Encoded": false
            })
        }
        Source::Alb => json!({
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/test/0000000000000000"}},
            "httpMethod": method,
            "path": raw_path,
            "queryStringParameters": pairs,
            "headers": headers,
            "body": body.unwrap_or_default(),
            "isBase64Encoded": false
        }),
    }
}
