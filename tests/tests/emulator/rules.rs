//! The emulator is as strict as Lambda, one test per rule (each failed against the
//! emulator before the rule): payload limits, streamed responses and their error
//! trailers, Lambda's trace-id format, invalid state transitions, and requests that stop
//! half-way or never end. The limits and their sources are in the emulator's `limits.rs`.

use std::time::{Duration, Instant};

use lambda_thaw_emulator::limits::{MAX_PAYLOAD, READ_TIMEOUT};
use lambda_thaw_emulator::{Environment, FunctionConfig, Outcome};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn eager() -> Environment {
    Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager")))
}

/// Sends `head` (and then `body`, if any) on a fresh connection and returns what the
/// server answered before closing, with how long that took.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before the whole body is sent.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer)).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

fn json_body(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_default()
}

#[tokio::test]
async fn a_buffered_response_over_6_mb_is_an_error_to_the_caller_and_the_environment_goes_on() {
    let env = eager();
    let fits = env.invoke(r#"{"pad":6000000}"#).await;
    assert!(fits.outcome.is_response(), "{}", fits.outcome.summary());
    let record = env.invoke(r#"{"pad":7000000}"#).await;
    let Outcome::Error(error) = &record.outcome else {
        panic!("expected an error, got {}", record.outcome.summary());
    };
    assert_eq!(error.error_type, "Function.ResponseSizeTooLarge");
    assert!(
        error.error_message.contains(&MAX_PAYLOAD.to_string()),
        "{error:?}"
    );
    let next = env.invoke(r#"{"message":"after"}"#).await;
    assert!(
        next.outcome.is_response() && next.cold_start.is_none(),
        "{next:?}"
    );
    env.shutdown().await;
}

#[tokio::test]
async fn an_invocation_event_over_6_mb_is_refused_before_any_environment_sees_it() {
    let env = eager();
    let event = format!(r#"{{"message":"{}"}}"#, "x".repeat(MAX_PAYLOAD));
    let record = env.invoke(event).await;
    let Outcome::Error(error) = &record.outcome else {
        panic!("expected an error, got {}", record.outcome.summary());
    };
    assert_eq!(error.error_type, "RequestEntityTooLargeException");
    assert_eq!(env.starts(), 0, "no environment was started for it");
}

#[tokio::test]
async fn a_streamed_response_may_pass_6_mb_and_reports_a_mid_stream_failure() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-stream")));
    let chunk = "y".repeat(1024 * 1024);
    let seven_mib = serde_json::json!({ "chunks": [chunk], "repeat": 7 }).to_string();
    let record = env.invoke(seven_mib).await;
    let Outcome::Response(body) = &record.outcome else {
        panic!(
            "expected the streamed response, got {}",
            record.outcome.summary()
        );
    };
    assert!(body.len() > 7 * 1024 * 1024, "{} bytes", body.len());
    let event = serde_json::json!({ "chunks": ["a", "b"], "fail_after": true }).to_string();
    let record = env.invoke(event).await;
    let Outcome::Error(error) = &record.outcome else {
        panic!(
            "expected the stream's error, got {}",
            record.outcome.summary()
        );
    };
    assert_eq!(error.error_type, "Runtime.StreamError", "{error:?}");
    let fine = env.invoke(r#"{"chunks":["a","b"]}"#).await;
    assert!(fine.outcome.is_response(), "{}", fine.outcome.summary());
    env.shutdown().await;
}

#[tokio::test]
async fn the_trace_header_has_lambdas_format_and_length() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-context")));
    let record = env.invoke(r#"{"item":"trace"}"#).await;
    let body = record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("{:?}", record.outcome));
    let trace = body.to_string();
    let root = trace
        .split('"')
        .find(|s| s.starts_with("Root=1-"))
        .unwrap_or_else(|| panic!("no trace id in {trace}"));
    let parts: Vec<&str> = root.split(';').collect();
    assert_eq!(parts.len(), 3, "{root}");
    let ids: Vec<&str> = parts[0]["Root=".len()..].split('-').collect();
    assert!(
        ids[0] == "1" && ids[1].len() == 8 && ids[2].len() == 24,
        "{root}"
    );
    assert!(
        parts[1].starts_with("Parent=") && parts[1].len() == "Parent=".len() + 16,
        "{root}"
    );
    assert_eq!(parts[2], "Sampled=0");
    assert!(root.len() > 64, "longer than a VARCHAR(64): {root}");
    env.shutdown().await;
}

#[tokio::test]
async fn init_error_after_init_and_a_second_response_are_refused_as_lambda_does() {
    let env = eager();
    let record = env.invoke(r#"{"message":"one"}"#).await;
    assert!(record.outcome.is_response());
    let addr = env.runtime_api().await.unwrap();
    let body = r#"{"errorType":"Late","errorMessage":"too late"}"#;
    let (answer, _) = raw(
        addr,
        &format!(
            "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
        body.as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(
        json_body(&answer)["errorType"],
        "InvalidStateTransition",
        "{answer}"
    );

    let (answer, _) = raw(
        addr,
        &format!(
            "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
            record.request_id
        ),
        b"{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(
        json_body(&answer)["errorType"],
        "InvalidRequestID",
        "{answer}"
    );
    let next = env.invoke(r#"{"message":"two"}"#).await;
    assert!(next.outcome.is_response(), "the environment goes on");
    env.shutdown().await;
}

#[tokio::test]
async fn requests_that_stop_half_way_are_closed_and_bodies_over_the_cap_refused() {
    let env = eager();
    assert!(
        env.invoke(r#"{"message":"one"}"#)
            .await
            .outcome
            .is_response()
    );
    let addr = env.runtime_api().await.unwrap();
    let error_path = "/2018-06-01/runtime/invocation/unknown/error";
    let headers_only = raw(addr, "POST /2018-06-01/runtime/invocation/", b"");
    let half_head = format!("POST {error_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    let half_body = raw(addr, &half_head, b"{\"errorType\":");
    let too_big = vec![b' '; 10 * 1024 * 1024];
    let big_head = format!(
        "POST {error_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        too_big.len()
    );
    let oversized = raw(addr, &big_head, &too_big);
    let ((headers_answer, headers_took), (body_answer, body_took), (big_answer, _)) =
        tokio::join!(headers_only, half_body, oversized);
    let limit = READ_TIMEOUT + Duration::from_secs(2);
    assert!(
        headers_took < limit,
        "half-sent headers held for {headers_took:?}: {headers_answer}"
    );
    assert!(body_took < limit, "half-sent body held for {body_took:?}");
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    assert!(big_answer.starts_with("HTTP/1.1 413"), "{big_answer}");
    assert_eq!(json_body(&big_answer)["errorType"], "RequestEntityTooLarge");
    assert!(
        env.invoke(r#"{"message":"two"}"#)
            .await
            .outcome
            .is_response()
    );
    env.shutdown().await;
}

#[tokio::test]
#[should_panic(expected = "cannot be sent in an HTTP header")]
async fn an_injected_header_that_http_cannot_carry_is_refused_not_dropped() {
    // Silently leaving it out would let the test believe the function saw it.
    eager()
        .invoke_with_headers("{}", &[("Lambda-Runtime-Client-Context", Some("a\nb"))])
        .await;
}

/// A second client that polls `GET next` and goes away never costs an event: whether it
/// leaves before an event arrives or while one is on its way, the event goes to the
/// function, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_poller_that_disconnects_never_costs_an_event() {
    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager")).timeout(Duration::from_secs(3)),
    );
    env.start().await.unwrap();
    let addr = env.runtime_api().await.unwrap();
    for round in 0..50u64 {
        // While the function is busy, a second poller queues ahead of its next poll...
        let busy = env.invoke(r#"{"sleep_ms":60}"#);
        let rogue = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            // ... and leaves: before the next event comes, or just as it does.
            tokio::time::sleep(Duration::from_millis(10 + round * 7 % 70)).await;
            drop(stream);
        };
        let (busy, ()) = tokio::join!(busy, rogue);
        assert!(busy.outcome.is_response(), "{:?}", busy.outcome);
        let record = env
            .invoke(format!(r#"{{"message":"round {round}"}}"#))
            .await;
        let body = record
            .outcome
            .json()
            .unwrap_or_else(|| panic!("round {round}: the event was lost: {:?}", record.outcome));
        assert_eq!(body["message"], format!("round {round}"));
    }
    assert_eq!(env.starts(), 1);
    env.shutdown().await;
}
