//! The function's stdout and stderr, captured line by line and searchable by tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The function's stdout.
    Stdout,
    /// The function's stderr.
    Stderr,
}

/// One line the function printed.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// When the emulator read it.
    pub at: SystemTime,
    /// Which environment start ("generation") of the environment printed it, from 1.
    pub generation: u64,
    /// stdout or stderr.
    pub stream: Stream,
    /// The text, without the line break.
    pub text: String,
}

/// Every line an environment's processes printed, across restarts.
#[derive(Clone)]
pub struct Logs {
    lines: Arc<Mutex<Vec<LogLine>>>,
    changed: Arc<watch::Sender<usize>>,
    /// Streams being read, not yet at their end.
    open: Arc<watch::Sender<usize>>,
    echo: Option<String>,
}

impl Logs {
    pub(crate) fn new(echo: Option<String>) -> Self {
        Self {
            lines: Arc::default(),
            changed: Arc::new(watch::Sender::new(0)),
            open: Arc::new(watch::Sender::new(0)),
            echo,
        }
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().unwrap().clone()
    }

    /// Every line so far, joined with newlines (for assertion messages).
    pub fn text(&self) -> String {
        self.lines()
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Lines containing `needle`.
    pub fn matching(&self, needle: &str) -> Vec<LogLine> {
        self.lines()
            .into_iter()
            .filter(|l| l.text.contains(needle))
            .collect()
    }

    /// Waits until a line containing `needle` has been printed, at most `timeout`.
    pub async fn wait_for(&self, needle: &str, timeout: Duration) -> Option<LogLine> {
        self.wait_for_count(needle, 1, timeout)
            .await
            .into_iter()
            .next()
    }

    /// Waits until `count` lines containing `needle` have been printed, at most `timeout`;
    /// returns those printed by then (fewer on a timeout, more if more came). The process's
    /// output is read asynchronously: a line printed before an invocation's answer may
    /// arrive here after [`Environment::invoke`](crate::Environment::invoke) returned, so
    /// count lines with this, not with [`matching`](Self::matching) at once.
    pub async fn wait_for_count(
        &self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<LogLine> {
        let mut rx = self.changed.subscribe();
        let search = async {
            loop {
                let found = self.matching(needle);
                if found.len() >= count {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, search).await;
        self.matching(needle)
    }

    /// Waits until every stream of every process so far has been read to its end (the
    /// processes have exited and their last lines are here), at most `timeout`; `false`
    /// if some stream is still open then.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let mut open = self.open.subscribe();
        tokio::time::timeout(timeout, open.wait_for(|open| *open == 0))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    pub(crate) fn capture(
        &self,
        reader: impl AsyncRead + Unpin + Send + 'static,
        stream: Stream,
        generation: u64,
    ) {
        let logs = self.clone();
        self.open.send_modify(|open| *open += 1);
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(text)) = lines.next_line().await {
                if let Some(prefix) = &logs.echo {
                    eprintln!("{prefix}{text}");
                }
                let mut all = logs.lines.lock().unwrap();
                all.push(LogLine {
                    at: SystemTime::now(),
                    generation,
                    stream,
                    text,
                });
                let count = all.len();
                drop(all);
                logs.changed.send_replace(count);
            }
            logs.open.send_modify(|open| *open -= 1);
        });
    }
}
