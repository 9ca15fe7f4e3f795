//! Whether the database has already closed a connection, learnt without a round trip.
//!
//! A server that ends a session tells the client before or as it goes, and the kernel
//! records it at once, frozen process or not:
//!
//! - PostgreSQL (`pg_terminate_backend`, `idle_session_timeout`, a restart) sends a FATAL
//!   `57P01`/`57P02` *while the session is still listed* in `pg_stat_activity`, then exits
//!   and closes the socket: first there are unread bytes on an idle connection, then FIN.
//! - MySQL and MariaDB (`KILL`, `wait_timeout`) close the socket: FIN.
//! - PgBouncer and RDS Proxy close an idle client's socket the same way.
//!
//! An idle connection has nothing to read and its socket is `ESTABLISHED`. So before each
//! acquire the pool asks the kernel — a few system calls per open descriptor, no round
//! trip — whether a TCP socket of this process was closed by its peer (`CLOSE_WAIT`,
//! `CLOSE`) or holds bytes nobody asked for, and pings (and so replaces) the connection
//! only then. The check comes before the statement is sent: no statement is ever retried,
//! so none can run twice. Another socket that happens to hold unread bytes (a concurrent
//! invocation's query in flight) costs one ping, nothing more.
//!
//! What it cannot see: a close that reaches this machine after the check (the handler's
//! query then fails, and is reported, not retried), and a connection that died without a
//! FIN or RST (a NAT that forgot it silently) — the idle-gap ping covers that one.

/// Linux's `TCP_ESTABLISHED` (`include/net/tcp_states.h`).
#[cfg(target_os = "linux")]
const ESTABLISHED: u8 = 1;
/// Linux's `TCP_CLOSE` and `TCP_CLOSE_WAIT`.
#[cfg(target_os = "linux")]
const CLOSED: [u8; 2] = [7, 8];

/// True when a TCP socket of this process has been closed by its peer and not yet by us,
/// or holds bytes not yet read. False where it cannot tell (not Linux, no `/proc`).
pub(crate) fn any_closed_by_peer() -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return false;
        };
        fds.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .any(|fd| match tcp_state(fd) {
                Some(state) if CLOSED.contains(&state) => true,
                Some(ESTABLISHED) => unread(fd) > 0,
                _ => false,
            })
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The TCP state of `fd`, or `None` if it is not a TCP socket (or no longer open).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // `getsockopt`: see the SAFETY comment
fn tcp_state(fd: i32) -> Option<u8> {
    // `struct tcp_info` begins with `tcpi_state`; the kernel copies no more than `len` bytes.
    let mut info = [0u8; 8];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: `getsockopt` writes at most `len` bytes into `info`, which has room for them,
    // and stores the length it wrote in `len`; on a descriptor that is not a TCP socket (or
    // was closed meanwhile) it fails without writing. It reads the socket's state only: no
    // byte of the connection is read or written.
    let failed = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    } != 0;
    (!failed && len >= 1).then_some(info[0])
}

/// Bytes received on `fd` and not yet read (0 if it cannot tell).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // `ioctl(FIONREAD)`: see the SAFETY comment
fn unread(fd: i32) -> i32 {
    let mut bytes: libc::c_int = 0;
    // SAFETY: `FIONREAD` stores one `int` through the pointer, which points at one; it
    // reads the socket's receive queue length only, consuming nothing.
    let failed = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut bytes) } != 0;
    if failed { 0 } else { bytes }
}

/// Held by every unit test of this crate that opens TCP sockets: the check below looks at
/// all of the process's sockets.
#[cfg(test)]
pub(crate) static SOCKET_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    /// Polls `check` for up to half a second: the kernel delivers loopback data and FINs
    /// within microseconds, but not synchronously.
    fn eventually(check: impl Fn() -> bool) -> bool {
        (0..100).any(|_| {
            let done = check();
            if !done {
                std::thread::sleep(Duration::from_millis(5));
            }
            done
        })
    }

    /// The whole life of an idle database connection, as the kernel shows it: healthy and
    /// quiet (nothing to replace), a message nobody asked for (PostgreSQL's FATAL before it
    /// exits), then the peer's FIN. The only TCP sockets of this test process are made here
    /// (one test, so that no other test's socket is seen meanwhile).
    #[test]
    fn a_connection_the_peer_closed_or_spoke_on_is_seen_without_reading_it() {
        let _alone = SOCKET_TESTS.blocking_lock();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(tcp_state(client.as_raw_fd()), Some(ESTABLISHED));
        assert_eq!(unread(client.as_raw_fd()), 0);
        assert!(
            !any_closed_by_peer(),
            "an idle, healthy connection looks closed"
        );

        server.write_all(b"E").unwrap();
        assert!(eventually(|| unread(client.as_raw_fd()) == 1));
        assert!(
            any_closed_by_peer(),
            "unread bytes on an idle connection not seen"
        );
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).unwrap();
        assert!(!any_closed_by_peer(), "read, the connection is quiet again");

        drop(server);
        assert!(eventually(|| tcp_state(client.as_raw_fd()) == Some(8)));
        assert!(
            any_closed_by_peer(),
            "CLOSE_WAIT after the peer's FIN not seen"
        );

        // Not a socket at all.
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert_eq!(tcp_state(file.as_raw_fd()), None);
        // A listening socket is neither closed nor holding data.
        assert!(tcp_state(listener.as_raw_fd()).is_some_and(|s| !CLOSED.contains(&s)));
    }
}
