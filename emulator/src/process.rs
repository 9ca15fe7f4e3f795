//! The function's process: spawn with Lambda's environment, freeze, thaw, signal, reap.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::sync::watch;

use crate::config::FunctionConfig;
use crate::logs::{Logs, Stream};
use crate::outcome::ProcessEnd;

pub(crate) struct Process {
    pid: Pid,
    exit: watch::Receiver<Option<ExitStatus>>,
}

impl Process {
    pub(crate) fn spawn(
        config: &FunctionConfig,
        runtime_api: &str,
        generation: u64,
        logs: &Logs,
    ) -> std::io::Result<Self> {
        let mut command = Command::new(&config.binary);
        command
            .args(&config.args)
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &config.function_name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", config.function_name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{generation}"))
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if config.max_concurrency > 1 {
            command.env(
                "AWS_LAMBDA_MAX_CONCURRENCY",
                config.max_concurrency.to_string(),
            );
        }
        for (key, value) in &config.env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot start function `{}`: {e}", config.binary.display()),
            )
        })?;
        let pid = Pid::from_raw(child.id().expect("a just-spawned child has a pid") as i32);
        if let Some(out) = child.stdout.take() {
            logs.capture(out, Stream::Stdout, generation);
        }
        if let Some(err) = child.stderr.take() {
            logs.capture(err, Stream::Stderr, generation);
        }
        let (tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = tx.send(status);
        });
        Ok(Self { pid, exit })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    pub(crate) fn exited(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    pub(crate) fn exit_watch(&self) -> watch::Receiver<Option<ExitStatus>> {
        self.exit.clone()
    }

    /// Waits for the process to end, at most `timeout`.
    pub(crate) async fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut exit = self.exit.clone();
        tokio::time::timeout(timeout, exit.wait_for(|s| s.is_some()))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|s| *s))
    }

    /// Sends `signal` unless the process is already gone.
    pub(crate) fn signal(&self, signal: Signal) {
        if self.exited().is_none() {
            let _ = kill(self.pid, signal);
        }
    }

    /// SIGSTOP: the whole process stops; its timers and sockets do not advance.
    pub(crate) fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT.
    pub(crate) fn thaw(&self) {
        self.signal(Signal::SIGCONT);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

pub(crate) fn describe(status: ExitStatus) -> ProcessEnd {
    match (status.code(), status.signal()) {
        (Some(code), _) => ProcessEnd::Exited(code),
        (None, Some(signal)) => ProcessEnd::Signaled(signal),
        (None, None) => ProcessEnd::AlreadyGone,
    }
}
