//! Benchmark 6, build cost: the orders example through `#[handler]` against the same function
//! written by hand — rebuild after a touch (incremental), rebuild of the package alone
//! with its dependencies already built (clean), and the binary's size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::report::{Row, median};

const SUBJECT: &str = "orders";
const BASELINE: &str = "orders-handwritten";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn build(package: &str, release: bool) -> f64 {
    let mut command = cargo();
    command
        .current_dir(workspace())
        .args(["build", "--quiet", "-p", package]);
    if release {
        command.arg("--release");
    }
    let started = Instant::now();
    let status = command.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p {package} failed");
    started.elapsed().as_secs_f64()
}

fn touch(package: &str) {
    let main = workspace()
        .join("examples")
        .join(package)
        .join("src/main.rs");
    let file = std::fs::File::options().write(true).open(&main).unwrap();
    file.set_modified(SystemTime::now()).unwrap();
}

fn binary_size(package: &str, release: bool) -> f64 {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| workspace().join("target"), PathBuf::from);
    let path = target
        .join(if release { "release" } else { "debug" })
        .join(package);
    std::fs::metadata(&path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

/// Runs the build comparisons `repetitions` times each; `clean` adds the package-only
/// clean rebuild.
pub fn run(release: bool, repetitions: usize, clean: bool) -> Vec<Row> {
    let profile = if release { "release" } else { "debug" };
    for package in [SUBJECT, BASELINE] {
        build(package, release);
    }
    let mut rows = Vec::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..repetitions {
        touch(SUBJECT);
        a.push(build(SUBJECT, release));
        touch(BASELINE);
        b.push(build(BASELINE, release));
    }
    rows.push(row(
        format!("incremental rebuild after touching main.rs ({profile}, median of {repetitions})"),
        &mut a,
        &mut b,
        "s",
    ));
    if clean {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..repetitions {
            for (package, times) in [(SUBJECT, &mut a), (BASELINE, &mut b)] {
                let mut command = cargo();
                command
                    .current_dir(workspace())
                    .args(["clean", "--quiet", "-p", package]);
                if release {
                    command.arg("--release");
                }
                assert!(command.status().unwrap().success());
                times.push(build(package, release));
            }
        }
        rows.push(row(
            format!("clean build of the package, dependencies already built ({profile}, median of {repetitions})"),
            &mut a,
            &mut b,
            "s",
        ));
    }
    rows.push(Row {
        section: "6",
        what: format!("binary size ({profile})"),
        tag: "binary size".into(),
        subject: binary_size(SUBJECT, release),
        baseline: binary_size(BASELINE, release),
        unit: "MiB",
        subject_name: "orders (#[handler])".into(),
        baseline_name: "orders-handwritten".into(),
    });
    rows
}

fn row(what: String, a: &mut [f64], b: &mut [f64], unit: &'static str) -> Row {
    Row {
        section: "6",
        tag: if what.starts_with("incremental") {
            "incremental build"
        } else {
            "clean build"
        }
        .into(),
        what,
        subject: median(a),
        baseline: median(b),
        unit,
        subject_name: "orders (#[handler])".into(),
        baseline_name: "orders-handwritten".into(),
    }
}
