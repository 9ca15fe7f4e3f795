//! A PgBouncer of the test's own, in transaction-pooling mode, in front of the shared
//! PostgreSQL server: the stand-in for RDS Proxy (which cannot run here) and the proxy
//! most self-hosted fleets use.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running PgBouncer, stopped on drop.
pub struct PgBouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// Where the `pgbouncer` binary is: on `PATH`, or Debian's `/usr/sbin`.
fn binary() -> Option<PathBuf> {
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pgbouncer"))
                .collect()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/pgbouncer")])
        .find(|candidate| candidate.is_file())
}

impl PgBouncer {
    /// Starts PgBouncer on a free port, forwarding every database to the server in
    /// `upstream` (a `postgres://user@host:port/db` URL) with at most `server_pool`
    /// server connections per database and user. `None` (skipped) when PgBouncer is not
    /// installed — unless `LAMBDA_THAW_REQUIRE_DATABASES` is set, as under `.ci/run`,
    /// which installs it.
    pub fn start(upstream: &str, server_pool: u32) -> Option<Self> {
        let Some(binary) = binary() else {
            if std::env::var_os("LAMBDA_THAW_REQUIRE_DATABASES").is_some() {
                panic!(
                    "pgbouncer is not installed (Debian: apt-get install pgbouncer); .ci/run installs it"
                );
            }
            eprintln!("skipped: pgbouncer is not installed");
            return None;
        };
        let rest = upstream
            .split_once("://")
            .expect("postgres://user@host:port/db")
            .1;
        let (user, rest) = rest.split_once('@').expect("a user in the URL");
        let user = user.split(':').next().unwrap();
        let host_port = rest.split('/').next().unwrap();
        let (host, upstream_port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(crate::db::unique("pgbouncer"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.txt"), format!("\"{user}\" \"\"\n")).unwrap();
        let config = format!(
            "[databases]\n\
             * = host={host} port={upstream_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/users.txt\n\
             pool_mode = transaction\n\
             default_pool_size = {server_pool}\n\
             max_client_conn = 2000\n\
             ignore_startup_parameters = extra_float_digits\n\
             logfile = {dir}/pgbouncer.log\n",
            dir = dir.display()
        );
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(&ini, config).unwrap();
        let mut command = Command::new(binary);
        // PgBouncer refuses to run as root; it can drop to another user itself.
        if is_root() {
            Command::new("chmod")
                .args(["-R", "a+rwX"])
                .arg(&dir)
                .status()
                .unwrap();
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&ini)
            .stdout(Stdio::null())
            // It logs to stderr as well as to its log file; `log()` reads the file.
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let bouncer = Self { child, port, dir };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(bouncer);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("pgbouncer did not listen on {port}: {}", bouncer.log());
    }

    /// A URL through PgBouncer to `database`, as `user`.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
