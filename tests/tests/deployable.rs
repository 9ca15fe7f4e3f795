//! The deployable artifacts: what `cargo lambda build --release` produced for each example
//! (`target/lambda/<name>/bootstrap`, the file Lambda's `provided.al2023` runtime runs)
//! runs under the emulator, and needs no newer glibc than Amazon Linux 2023 has.
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
    let Some(dir) = std::env::var_os("LAMBDA_THAW_BOOTSTRAPS") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "LAMBDA_THAW_BOOTSTRAPS is not set; .ci/run sets it after `cargo lambda build --release`"
            );
        }
        eprintln!(
            "skipped: LAMBDA_THAW_BOOTSTRAPS is not set (run `cargo lambda build --release -p {name}` and point it at target/lambda)"
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
