//! Building function binaries with cargo, and finding the executables it made.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Runs `cargo build` with `args` (e.g. `["--bin", "orders"]`) and returns every executable
/// it built or found up to date, by target name. Cargo's diagnostics go to stderr.
pub fn build(args: &[&str]) -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("`cargo build {}` failed", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let executable = message["executable"].as_str()?;
            let name = message["target"]["name"].as_str()?;
            Some((name.to_string(), PathBuf::from(executable)))
        })
        .collect())
}
