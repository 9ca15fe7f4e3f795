//! Out of file descriptors, the emulator's accept loop backs off instead of spinning, and
//! serves again once descriptors are free. Its own test binary: it lowers this process's
//! descriptor limit.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, FunctionConfig};
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// CPU time this process has used (user + system), read from `stat` — opened before the
/// descriptors run out, and re-read from its start each time.
fn cpu_time(stat: &std::fs::File) -> Duration {
    use std::os::unix::fs::FileExt;
    let mut buffer = [0u8; 1024];
    let n = stat.read_at(&mut buffer, 0).unwrap();
    let stat = String::from_utf8_lossy(&buffer[..n]);
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_accept_loop_backs_off_and_recovers() {
    let env = Environment::new(FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager")).freeze(false));
    assert!(
        env.invoke(r#"{"message":"one"}"#)
            .await
            .outcome
            .is_response()
    );
    let addr = env.runtime_api().await.unwrap();

    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, open_descriptors() + 16, hard).unwrap();
    // Connect until this process has no descriptor left: the emulator's `accept` now fails
    // with EMFILE while connections wait in its backlog.
    let mut clients = Vec::new();
    while let Ok(client) = tokio::net::TcpStream::connect(addr).await {
        clients.push(client);
        if clients.len() > 64 {
            break;
        }
    }
    let before = cpu_time(&stat);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_time(&stat) - before;
    drop(clients);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    eprintln!("CPU time over 1 s without descriptors: {spent:?}");
    assert!(
        spent < Duration::from_millis(300),
        "the accept loop spun: {spent:?} of CPU in 1 s"
    );
    let next = env.invoke(r#"{"message":"two"}"#).await;
    assert!(next.outcome.is_response(), "{}", next.outcome.summary());
    env.shutdown().await;
}
