//! cargo-lambda as a peer: the examples under `cargo lambda watch`, invoked with
//! `cargo lambda invoke`, as Rust Lambda developers run them locally. cargo-lambda comes
//! from PyPI (`.ci/run` installs a pinned version into a virtualenv and puts it on `PATH`);
//! without it the tests are skipped with a message — under `CI=true` they fail instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_thaw_tests::db::{PgScratch, admin_url};
use lambda_thaw_tests::events::api_gateway_v2;
use lambda_thaw_tests::scratch_sqlite;
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `cargo-lambda` executable, or `None` (skipped) outside CI.
fn cargo_lambda() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("cargo-lambda"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cargo-lambda is not on PATH; .ci/run installs it (pip install cargo-lambda)");
        }
        eprintln!("skipped: cargo-lambda is not installed (pip install cargo-lambda==1.9.2)");
    }
    found
}

/// `cargo lambda watch` serving one example, stopped on drop.
struct Watch {
    child: Child,
    port: u16,
    binary: PathBuf,
}

impl Watch {
    fn start(binary: &Path, package: &str, env: &[(&str, &str)]) -> Self {
        let port = lambda_thaw_tests::free_port();
        let mut command = Command::new(binary);
        command
            .current_dir(workspace())
            .args(["lambda", "watch", "-p", package, "--bin", package, "-P"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.args(["--env-var", &format!("{key}={value}")]);
        }
        let child = command.spawn().expect("cargo lambda watch starts");
        let watch = Self {
            child,
            port,
            binary: binary.to_path_buf(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo lambda watch did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        watch
    }

    /// `cargo lambda invoke FUNCTION --data-ascii EVENT`: the function's JSON answer, or
    /// the error cargo-lambda printed.
    fn invoke(&self, function: &str, event: &Value) -> Result<Value, String> {
        let output = Command::new(&self.binary)
            .current_dir(workspace())
            .args(["lambda", "invoke", function, "-P"])
            .arg(self.port.to_string())
            .args(["--data-ascii", &event.to_string()])
            .output()
            .expect("cargo lambda invoke runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // cargo lambda watch runs the function as its child: stop the whole group.
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn order(i: usize) -> Value {
    json!({ "customer": format!("c{i}"), "item": "tea", "quantity": 2, "unit_price_cents": 350 })
}

/// 20 orders through `cargo lambda invoke`: every one succeeds on one connection.
fn twenty_orders(watch: &Watch) {
    let mut failed = Vec::new();
    for i in 0..20 {
        match watch.invoke("orders", &order(i)) {
            Ok(receipt) => {
                assert_eq!(receipt["total_cents"], 700, "{receipt}");
                assert_eq!(receipt["connections_opened"], 1, "{receipt}");
            }
            Err(error) => failed.push(error),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 20 failed: {:?}",
        failed.len(),
        failed.first()
    );
}

#[test]
fn orders_under_cargo_lambda_watch_on_sqlite() {
    let Some(binary) = cargo_lambda() else { return };
    let (url, file) = scratch_sqlite("cargo-lambda");
    let watch = Watch::start(&binary, "orders", &[("DATABASE_URL", &url)]);
    twenty_orders(&watch);
    drop(watch);
    let _ = std::fs::remove_file(file);
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_under_cargo_lambda_watch_on_postgres_opens_one_connection() {
    let Some(binary) = cargo_lambda() else { return };
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let mut scratch = PgScratch::create(&admin).await;
    let url = scratch.url.clone();
    let before = scratch.stat("sessions").await;
    tokio::task::spawn_blocking(move || {
        let watch = Watch::start(&binary, "orders", &[("DATABASE_URL", &url)]);
        twenty_orders(&watch);
    })
    .await
    .unwrap();
    scratch.wait_until_idle().await;
    assert_eq!(
        scratch.stat("sessions").await - before,
        1,
        "20 invocations under cargo lambda watch, one connection"
    );
    scratch.drop_database().await;
}

#[test]
fn http_orders_under_cargo_lambda_watch_with_api_gateway_v2_events() {
    let Some(binary) = cargo_lambda() else { return };
    let (url, file) = scratch_sqlite("cargo-lambda-http");
    let watch = Watch::start(&binary, "http-orders", &[("DATABASE_URL", &url)]);
    for i in 0..10 {
        let new = json!({ "customer": format!("c{i}"), "item": "tea", "quantity": 1 });
        let created = watch
            .invoke(
                "http-orders",
                &api_gateway_v2("POST", "/orders", Some(&new)),
            )
            .unwrap_or_else(|e| panic!("POST {i} failed: {e}"));
        assert_eq!(created["statusCode"], 201, "{created}");
        let order: Value = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();
        let id = order["id"].as_str().unwrap();
        let read = watch
            .invoke(
                "http-orders",
                &api_gateway_v2("GET", &format!("/orders/{id}"), None),
            )
            .unwrap_or_else(|e| panic!("GET {i} failed: {e}"));
        assert_eq!(read["statusCode"], 200, "{read}");
    }
    drop(watch);
    let _ = std::fs::remove_file(file);
}
