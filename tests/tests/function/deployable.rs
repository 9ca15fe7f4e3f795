//! The deployable artifacts: what `cargo lambda build --release` produced for each example
//! (`target/lambda/<name>/bootstrap`, the file Lambda's `provided.al2023` runtime runs)
//! runs under the emulator, and needs no newer glibc than Amazon Linux 2023 has; a release
//! artifact that panics — in the handler, in deferred work, in init — reports the panic and,
//! built as this workspace builds it (`panic = "unwind"`), serves on. Built with
//! `panic = "abort"` (`LAMBDA_THAW_ABORT_BOOTSTRAPS`), it still reports the panic in Lambda's
//! terms before the process dies.
//! `LAMBDA_THAW_BOOTSTRAPS` names the directory (`.ci/run` builds it); without it the tests
//! are skipped with a message — under `CI=true` they fail instead.

use std::path::PathBuf;
use std::process::Command;

use lambda_thaw_emulator::{Environment, FunctionConfig};
use lambda_thaw_tests::events::api_gateway_v2;
use lambda_thaw_tests::scratch_sqlite;
use serde_json::{Value, json};

/// glibc of Amazon Linux 2023, the OS of Lambda's `provided.al2023` runtime.
const AL2023_GLIBC: (u32, u32) = (2, 34);

fn bootstrap(name: &str) -> Option<PathBuf> {
    bootstrap_in("LAMBDA_THAW_BOOTSTRAPS", name)
}

/// `<$variable>/<name>/bootstrap`, or `None` (skipped) outside CI when the variable is unset.
fn bootstrap_in(variable: &str, name: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os(variable) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{variable} is not set; .ci/run sets it after `cargo lambda build --release`");
        }
        eprintln!(
            "skipped: {variable} is not set (run `cargo lambda build --release` for {name}, as .ci/run does, and point it at the lambda directory)"
        );
        return None;
    };
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = workspace.join(dir).join(name).join("bootstrap");
    assert!(path.is_file(), "{} was not built", path.display());
    Some(path)
}

/// The newest glibc symbol version the binary needs, from `objdump -T`.
fn newest_glibc(binary: &PathBuf) -> (u32, u32) {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .expect("objdump (binutils) is installed");
    String::from_utf8_lossy(&output.stdout)
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .expect("a dynamically linked binary names glibc versions")
}

/// The built bootstrap of `name`, checked to run on `provided.al2023`; `None` (skipped)
/// outside CI when nothing was built.
fn built(name: &str) -> Option<PathBuf> {
    let binary = bootstrap(name)?;
    let glibc = newest_glibc(&binary);
    assert!(
        glibc <= AL2023_GLIBC,
        "needs glibc {glibc:?}, provided.al2023 has {AL2023_GLIBC:?}"
    );
    Some(binary)
}

#[tokio::test]
async fn the_built_orders_bootstrap_runs_under_the_emulator() {
    let Some(binary) = built("orders") else {
        return;
    };
    let (url, _) = scratch_sqlite("deployable-orders");
    let env = Environment::new(FunctionConfig::new(&binary).env("DATABASE_URL", url));
    for i in 0..5 {
        let event = json!({ "customer": format!("c{i}"), "item": "tea", "quantity": 2, "unit_price_cents": 350 });
        let record = env.invoke(event.to_string()).await;
        let receipt = record
            .outcome
            .json()
            .unwrap_or_else(|| panic!("{:?}", record.outcome));
        assert_eq!(receipt["total_cents"], 700, "{receipt}");
        assert_eq!(receipt["connections_opened"], 1, "{receipt}");
    }
    let report = env.shutdown().await.unwrap();
    assert!(
        report.sigterm_sent && !report.killed_after_grace,
        "{report:?}"
    );
}

#[tokio::test]
async fn the_built_http_orders_bootstrap_answers_api_gateway() {
    let Some(binary) = built("http-orders") else {
        return;
    };
    let (url, _) = scratch_sqlite("deployable-http");
    let env = Environment::new(FunctionConfig::new(&binary).env("DATABASE_URL", url));
    let order = json!({ "customer": "ada", "item": "tea", "quantity": 1 });
    let event = api_gateway_v2("POST", "/orders", Some(&order));
    let record = env.invoke(event.to_string()).await;
    let response: Value = record
        .outcome
        .json()
        .unwrap_or_else(|| panic!("{:?}", record.outcome));
    assert_eq!(response["statusCode"], 201, "{response}");
    env.shutdown().await;
}

/// An init that panics is reported to `init/error` as `lambda_thaw::InitPanic`, with its
/// message, whatever the panic strategy.
async fn init_panic_is_reported(binary: &PathBuf) {
    let failing = Environment::new(panics(binary).env("FIXTURE_INIT_PANIC", "1"));
    let record = failing.invoke("{}").await;
    let error = record.outcome.error().unwrap();
    assert_eq!(error.error_type, "lambda_thaw::InitPanic", "{error:?}");
    assert!(
        error.error_message.contains("init panicked on purpose"),
        "{error:?}"
    );
}

fn panics(binary: &PathBuf) -> FunctionConfig {
    FunctionConfig::new(binary).timeout(std::time::Duration::from_secs(5))
}

/// The panicking release artifact, built as this workspace builds (unwinding): each panic
/// is its invocation's error (or init's), and the environment serves on.
#[tokio::test]
async fn a_release_artifact_that_panics_reports_it_and_serves_on() {
    let Some(binary) = built("thaw-panics") else {
        return;
    };
    let env = Environment::new(panics(&binary));
    let first = env.invoke("{}").await;
    let pid = first.outcome.json().expect("a response")["pid"].clone();
    let panicked = env.invoke(r#"{"panic":"out of range"}"#).await;
    let error = panicked.outcome.error().unwrap();
    assert_eq!(error.error_type, "lambda_thaw::HandlerPanic", "{error:?}");
    assert!(error.error_message.contains("out of range"), "{error:?}");
    // Deferred work runs after the response: the caller has its answer all the same.
    let deferred = env.invoke(r#"{"defer_panic":"after the answer"}"#).await;
    assert!(deferred.outcome.is_response(), "{:?}", deferred.outcome);
    let next = env.invoke("{}").await;
    assert!(next.cold_start.is_none(), "a panic cost the environment");
    let body = next.outcome.json().unwrap();
    assert_eq!(
        (body["pid"].clone(), body["invocation"].clone()),
        (pid, json!(4))
    );
    env.shutdown().await;

    init_panic_is_reported(&binary).await;
}

/// The same artifact built with `panic = "abort"`, as `cargo lambda build --release` makes
/// it for a workspace that does not say `unwind`: the process dies with the panic, but the
/// caller is told `lambda_thaw::HandlerPanic` (or `InitPanic`) and why, not a bare
/// `Runtime.ExitError`; an answer posted before a panic in deferred work stays posted.
#[tokio::test]
async fn a_release_artifact_built_to_abort_still_reports_its_panics() {
    let Some(binary) = bootstrap_in("LAMBDA_THAW_ABORT_BOOTSTRAPS", "thaw-panics") else {
        return;
    };
    let env = Environment::new(panics(&binary));
    let first = env.invoke("{}").await;
    assert!(first.outcome.is_response(), "{:?}", first.outcome);
    env.logs()
        .wait_for(
            "built with panic = \"abort\"",
            std::time::Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        env.logs().matching("built with panic = \"abort\"").len(),
        1,
        "the start does not warn: {}",
        env.logs().text()
    );
    let panicked = env.invoke(r#"{"panic":"out of range"}"#).await;
    let error = panicked.outcome.error().unwrap();
    assert_eq!(error.error_type, "lambda_thaw::HandlerPanic", "{error:?}");
    assert!(
        error.error_message.contains("out of range") && error.error_message.contains("abort"),
        "{error:?}"
    );
    let deferred = env.invoke(r#"{"defer_panic":"after the answer"}"#).await;
    assert!(deferred.outcome.is_response(), "{:?}", deferred.outcome);
    // What aborting costs: each panic took the environment with it.
    let next = env.invoke("{}").await;
    assert!(next.outcome.is_response(), "{:?}", next.outcome);
    assert_eq!(env.starts(), 3);
    env.shutdown().await;

    init_panic_is_reported(&binary).await;
}
