//! Shared code of the `#[handler]` fixtures: one init and one handler body, used by the
//! binaries that differ only in their `#[handler(...)]` options.
//!
//! Environment switches: `FIXTURE_INIT_SLEEP_MS` slows init down, `FIXTURE_INIT_FAIL_FILE`
//! makes init fail while that file exists, `FIXTURE_INIT_PANIC` makes it panic.

pub mod db;
pub mod events;
pub mod idempotency;
pub mod pgbouncer;
pub mod relay;
pub mod round_trips;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_thaw::{Error, LambdaEvent};
use serde::Deserialize;
use serde_json::{Value, json};

static INITS: AtomicU64 = AtomicU64::new(0);

/// The state the fixtures' init builds.
pub struct Fixture {
    invocations: AtomicU64,
}

/// The fixtures' init: counts itself, and fails, panics or sleeps on request.
pub async fn setup() -> Result<Fixture, Error> {
    let n = INITS.fetch_add(1, Ordering::SeqCst) + 1;
    println!("init ran {n} at {}", epoch_ms());
    if let Ok(ms) = std::env::var("FIXTURE_INIT_SLEEP_MS") {
        tokio::time::sleep(Duration::from_millis(ms.parse()?)).await;
    }
    if let Ok(path) = std::env::var("FIXTURE_INIT_FAIL_FILE")
        && std::path::Path::new(&path).exists()
    {
        return Err(format!("database unreachable: marker file {path} exists").into());
    }
    if std::env::var_os("FIXTURE_INIT_PANIC").is_some() {
        panic!("init panicked on purpose");
    }
    Ok(Fixture {
        invocations: AtomicU64::new(0),
    })
}

/// What the fixtures' events ask for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    message: Option<String>,
    fail: Option<String>,
    panic: Option<String>,
    sleep_ms: Option<u64>,
    defer_ms: Option<u64>,
    defer_fail: Option<String>,
    /// Answer with a message of this many bytes (for the payload limits).
    pad: Option<usize>,
}

/// The fixtures' handler body.
pub async fn respond(event: LambdaEvent<Command>, state: &Fixture) -> Result<Value, Error> {
    let invocation = state.invocations.fetch_add(1, Ordering::SeqCst) + 1;
    let command = event.payload;
    let request_id = event.context.request_id;
    let function = &event.context.env_config;
    let function = json!({
        "name": function.function_name,
        "memory": function.memory,
        "version": function.version,
    });
    if let Some(reason) = command.defer_fail {
        lambda_thaw::defer(async move { Err::<(), _>(reason) })?;
        lambda_thaw::defer(async {
            if std::process::id() > 0 {
                panic!("deferred work panicked on purpose");
            }
        })?;
    }
    if let Some(ms) = command.defer_ms {
        let request_id = request_id.clone();
        lambda_thaw::defer(async move {
            println!("deferred started {request_id}");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            println!("deferred done {request_id} at {}", epoch_ms());
        })?;
    }
    if let Some(reason) = command.fail {
        return Err(reason.into());
    }
    if let Some(reason) = command.panic {
        panic!("{reason}");
    }
    if let Some(ms) = command.sleep_ms {
        println!("sleeping {ms} ms in {request_id}");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let message = match command.pad {
        Some(bytes) => Some("x".repeat(bytes)),
        None => command.message,
    };
    Ok(json!({
        "message": message,
        "pid": std::process::id(),
        "inits": INITS.load(Ordering::SeqCst),
        "invocation": invocation,
        "function": function,
    }))
}

/// Milliseconds since the epoch, to compare with the emulator's timestamps.
pub fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// A free loopback TCP port, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An SQLite URL for a file of this test run's own in the temp directory, and the file.
pub fn scratch_sqlite(tag: &str) -> (String, std::path::PathBuf) {
    scratch_sqlite_in(&std::env::temp_dir(), tag)
}

/// [`scratch_sqlite`] in memory (`/dev/shm`, where Linux has it), for a test whose
/// deadlines are about the code and not the disk: a commit's fsync on a loaded machine's
/// disk can take hundreds of milliseconds.
pub fn scratch_sqlite_in_memory(tag: &str) -> (String, std::path::PathBuf) {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        scratch_sqlite_in(shm, tag)
    } else {
        scratch_sqlite(tag)
    }
}

fn scratch_sqlite_in(dir: &std::path::Path, tag: &str) -> (String, std::path::PathBuf) {
    let file = dir.join(format!("lambda-thaw-{tag}-{}.db", std::process::id()));
    (format!("sqlite://{}?mode=rwc", file.display()), file)
}
