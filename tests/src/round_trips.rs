//! Counting a client's round trips to a database server on the wire.

/// A loopback TCP proxy that counts round trips: each time the client speaks after the
/// server did (or first), that is one more request the client waited on.
pub struct RoundTripCounter {
    addr: std::net::SocketAddr,
    turns: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RoundTripCounter {
    /// Listens on a free loopback port and forwards every connection to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let turns = Arc::new(AtomicU64::new(0));
        let counter = turns.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                // 1: the client spoke last, 2: the server did.
                let last = Arc::new(AtomicU8::new(0));
                let (last_up, turns) = (last.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut buffer = vec![0; 64 * 1024];
                    while let Ok(n) = client_read.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        if last_up.swap(1, Ordering::SeqCst) != 1 {
                            turns.fetch_add(1, Ordering::SeqCst);
                        }
                        if server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buffer = vec![0; 64 * 1024];
                    while let Ok(n) = server_read.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        last.store(2, Ordering::SeqCst);
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { addr, turns }
    }

    /// Round trips so far, over every connection.
    pub fn turns(&self) -> u64 {
        self.turns.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Round trips so far, once none has been added for 50 ms: a pool pings a connection
    /// after the caller has its answer, so a count read at once may miss the last ping, and
    /// a measurement that starts at once may gain the previous one.
    pub async fn settled(&self) -> u64 {
        let mut last = self.turns();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let now = self.turns();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

impl RoundTripCounter {
    /// Where clients connect.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

/// Round trips `run` takes on the wire: the average over 10 warm runs, each inside an
/// invocation as the handler would run it (back to back, so no liveness ping) — the lowest
/// of three such batches, since a busy machine can only add round trips (a ping for a
/// connection that looked idle too long), never take one away.
pub async fn per_invocation<F, Fut>(counter: &RoundTripCounter, mut run: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let invocation = lambda_thaw::testing::Invocation::new();
    let _ = invocation.run(run()).await;
    let mut lowest = f64::MAX;
    for _ in 0..3 {
        let before = counter.settled().await;
        for _ in 0..10 {
            let _ = invocation.run(run()).await;
        }
        lowest = lowest.min((counter.settled().await - before) as f64 / 10.0);
    }
    lowest
}

/// Runs the calling test again in a process of its own, alone, and returns `false` in the
/// test that spawned it (which then has nothing more to do); `true` in that process, where
/// the test goes on. A count of round trips must run so: before each acquire the pool asks
/// the kernel about every TCP socket of its process, and a neighbour test's sockets (the
/// emulator's server side, another test's relay) would add pings to the count.
/// `name` is the test's path in its binary, e.g. `proxy::what_proxy_mode_costs_in_round_trips`.
pub fn in_a_process_of_its_own(name: &str) -> bool {
    const CHILD: &str = "LAMBDA_THAW_TEST_ALONE";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{text}");
    assert!(output.status.success(), "{name}, alone, failed");
    assert!(
        text.contains("1 passed"),
        "{name} did not run alone: {text}"
    );
    false
}
