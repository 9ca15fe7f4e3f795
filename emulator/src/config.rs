//! How to run a function: its binary, its environment, and Lambda's limits.

use std::path::PathBuf;
use std::time::Duration;

/// Configuration of a function run under the emulator. Defaults follow Lambda's.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The function's executable (what Lambda calls `bootstrap`).
    pub binary: PathBuf,
    /// Arguments for the executable.
    pub args: Vec<String>,
    /// Extra environment variables (added to the emulator's own environment).
    pub env: Vec<(String, String)>,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub memory_mb: u32,
    /// The invocation timeout: the deadline sent is handout + this; past it the
    /// invocation is a timeout and the environment is killed. Default 3 s (Lambda's).
    pub timeout: Duration,
    /// Longest init (process start → first `next`) before the start counts as failed.
    /// Default 10 s, Lambda's limit for on-demand init.
    pub init_timeout: Duration,
    /// Freeze (SIGSTOP) the process whenever no invocation is in flight. Default on.
    pub freeze: bool,
    /// SIGTERM → SIGKILL grace at shutdown. Default 500 ms (one internal extension).
    pub shutdown_grace: Duration,
    /// `AWS_LAMBDA_MAX_CONCURRENCY` when above 1 (Lambda Managed Instances).
    pub max_concurrency: u32,
    /// Serve the APIs under this path and pass `AWS_LAMBDA_RUNTIME_API` as
    /// `http://127.0.0.1:PORT/prefix`, the way cargo-lambda does. Default: none, and
    /// the variable is `127.0.0.1:PORT`, the way Lambda sets it.
    pub api_prefix: Option<String>,
    /// Copy the function's output to the emulator's stderr with this prefix.
    pub echo_output: Option<String>,
}

impl FunctionConfig {
    /// A configuration for `binary` with Lambda's defaults.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        let binary = binary.into();
        let function_name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        Self {
            binary,
            args: Vec::new(),
            env: Vec::new(),
            function_name,
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            freeze: true,
            shutdown_grace: Duration::from_millis(500),
            max_concurrency: 1,
            api_prefix: None,
            echo_output: None,
        }
    }

    /// Adds an environment variable for the function.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the invocation timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the init timeout.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// Turns freezing between invocations on or off.
    pub fn freeze(mut self, freeze: bool) -> Self {
        self.freeze = freeze;
        self
    }

    /// Sets `AWS_LAMBDA_MAX_CONCURRENCY`.
    pub fn max_concurrency(mut self, n: u32) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Sets the shutdown grace period.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serves the APIs under a path prefix (cargo-lambda's form of `AWS_LAMBDA_RUNTIME_API`).
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.api_prefix = Some(format!("/{}", prefix.trim_matches('/')));
        self
    }

    /// Copies the function's output to stderr, each line prefixed.
    pub fn echo_output(mut self, prefix: impl Into<String>) -> Self {
        self.echo_output = Some(prefix.into());
        self
    }
}
