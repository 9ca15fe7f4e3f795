//! Network paths that fail without a word, for the tests of what the pool does about them:
//! a listener that takes connections and never answers, and a relay that forgets its
//! connections the way a NAT gateway forgets a flow idle for 350 s — no FIN, no RST, the
//! bytes simply go nowhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listener that accepts every connection and keeps it open without sending or reading
/// a byte: a stuck proxy, or a server that took the connection and hung.
pub struct SilentListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SilentListener {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { addr, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback relay to a database server whose path can go silent: after
/// [`SilentRelay::forget_connections`], every connection it carried so far stays open on
/// both ends but carries nothing more in either direction; connections made afterwards
/// work.
pub struct SilentRelay {
    addr: SocketAddr,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    /// Connections numbered below this one are forgotten.
    forgotten_below: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentRelay {
    /// Listens on a free loopback port and relays each connection to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let forgotten_below = Arc::new(AtomicU64::new(0));
        let (count, forgotten) = (accepted.clone(), forgotten_below.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let number = count.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(&upstream).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let forgotten_up = forgotten.clone();
                tokio::spawn(carry(client_read, server_write, number, forgotten_up));
                tokio::spawn(carry(server_read, client_write, number, forgotten.clone()));
            }
        });
        Self {
            addr,
            accepted,
            forgotten_below,
            task,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// From now on the connections made so far carry nothing: what either end sends is
    /// read and dropped, and neither end is told.
    pub fn forget_connections(&self) {
        self.forgotten_below
            .store(self.accepted(), Ordering::SeqCst);
    }
}

impl Drop for SilentRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to` until either ends; once connection `number` is forgotten, reads
/// and drops (holding `to` open, so no FIN reaches the other end).
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    number: u64,
    forgotten_below: Arc<AtomicU64>,
) {
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        if number < forgotten_below.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    // A forgotten path says nothing, not even goodbye: keep `to` open while the process
    // lives.
    if number < forgotten_below.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}
