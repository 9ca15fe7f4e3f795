//! Helpers for tests against the real database servers: throwaway databases and users on
//! the shared servers, and the server-side counters the tests read.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, MySqlConnection, PgConnection};

/// The admin URL in `var`, or `None` (the test is skipped) — unless
/// `LAMBDA_THAW_REQUIRE_DATABASES` is set, as `.ci/run` does: then a missing URL fails.
pub fn admin_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("LAMBDA_THAW_REQUIRE_DATABASES").is_some() => {
            panic!(
                "{var} must be set when LAMBDA_THAW_REQUIRE_DATABASES is: the database checks may not be skipped"
            )
        }
        Err(_) => {
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A database of its own on the shared PostgreSQL server, so its statistics count only
/// what the test's functions did. Dropped by [`PgScratch::drop_database`].
pub struct PgScratch {
    /// An admin connection to the server's `test` database.
    pub admin: PgConnection,
    /// The scratch database's name.
    pub name: String,
    /// A URL for the function: the admin user on the scratch database.
    pub url: String,
}

impl PgScratch {
    /// Creates the scratch database.
    pub async fn create(admin_url: &str) -> Self {
        let name = unique("lambda_thaw");
        let mut admin = PgConnection::connect(admin_url).await.unwrap();
        // The name is generated above, never taken from input.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    /// Waits until no backend is connected to the scratch database (so every session's
    /// statistics are flushed).
    pub async fn wait_until_idle(&mut self) {
        let idle = async {
            loop {
                if self
                    .count("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                    .await
                    == 0
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), idle)
            .await
            .expect("every session of the scratch database ended");
    }

    /// A `pg_stat_database` column for the scratch database.
    pub async fn stat(&mut self, column: &str) -> i64 {
        self.count(&format!(
            "SELECT CAST({column} AS BIGINT) FROM pg_stat_database WHERE datname = $1"
        ))
        .await
    }

    /// Runs a one-number query whose only parameter is the scratch database's name.
    pub async fn count(&mut self, query: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(query.to_string()))
            .bind(&self.name)
            .fetch_one(&mut self.admin)
            .await
            .unwrap();
        n
    }

    /// Terminates a backend, as an administrator or a proxy would, and waits until it is gone.
    pub async fn terminate(&mut self, pid: i64) {
        sqlx::query("SELECT pg_terminate_backend(CAST($1 AS INTEGER))")
            .bind(pid)
            .execute(&mut self.admin)
            .await
            .unwrap();
        for _ in 0..200 {
            let (alive,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = CAST($1 AS INTEGER)",
            )
            .bind(pid)
            .fetch_one(&mut self.admin)
            .await
            .unwrap();
            if alive == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("backend {pid} survived pg_terminate_backend");
    }

    /// Drops the scratch database.
    pub async fn drop_database(self) {
        self.drop_database_with("SELECT 1").await;
    }

    /// Drops the scratch database, then runs `then` (a statement of the test's own, e.g.
    /// dropping a role that had rights in it) on the admin connection.
    pub async fn drop_database_with(mut self, then: &str) {
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .unwrap();
        sqlx::raw_sql(AssertSqlSafe(then.to_owned()))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}

/// A role allowed `limit` connections to a scratch PostgreSQL database, with the fixture's
/// table made before any environment starts, as after a deploy-time migration.
pub struct LimitedRole {
    /// The scratch database the role may use.
    pub scratch: PgScratch,
    /// The role's name.
    pub name: String,
    /// A URL for the function: the role on the scratch database.
    pub url: String,
}

impl LimitedRole {
    /// Creates the scratch database, the role, and the fixtures' table `lt_items`.
    pub async fn create(admin: &str, limit: u32) -> Self {
        let scratch = PgScratch::create(admin).await;
        let name = unique("lt_limited");
        let mut on_scratch = PgConnection::connect(&scratch.url).await.unwrap();
        for statement in [
            format!("CREATE ROLE {name} LOGIN CONNECTION LIMIT {limit}"),
            format!("GRANT ALL ON DATABASE {} TO {name}", scratch.name),
            format!("GRANT ALL ON SCHEMA public TO {name}"),
            "CREATE TABLE lt_items (item_key VARCHAR(64) PRIMARY KEY)".to_owned(),
            format!("GRANT ALL ON lt_items TO {name}"),
        ] {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut on_scratch)
                .await
                .unwrap();
        }
        on_scratch.close().await.unwrap();
        let host = admin.split_once('@').unwrap().1.rsplit_once('/').unwrap().0;
        let url = format!("postgres://{name}@{host}/{}", scratch.name);
        Self { scratch, name, url }
    }

    /// Drops the database and the role once the role's connections are gone.
    pub async fn drop(mut self) {
        self.scratch.wait_until_idle().await;
        for statement in [
            format!("DROP DATABASE {} WITH (FORCE)", self.scratch.name),
            format!("DROP ROLE {}", self.name),
        ] {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut self.scratch.admin)
                .await
                .unwrap();
        }
    }
}

/// A database and a user of their own on the shared MariaDB server; per-user statistics
/// (`userstat`) count only what the test's functions did.
pub struct MariaScratch {
    /// An admin connection.
    pub admin: MySqlConnection,
    /// The scratch database's and user's name.
    pub name: String,
    /// A URL for the function: the scratch user on the scratch database.
    pub url: String,
}

impl MariaScratch {
    /// Creates the scratch database and user, and turns per-user statistics on.
    pub async fn create(admin_url: &str) -> Self {
        let name = unique("lt");
        let mut admin = MySqlConnection::connect(admin_url).await.unwrap();
        for statement in [
            "SET GLOBAL userstat = 1".to_string(),
            format!("CREATE DATABASE {name}"),
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY 'scratch-pw'"),
            format!("GRANT ALL ON {name}.* TO '{name}'@'%'"),
        ] {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let (_, host) = admin_url
            .split_once('@')
            .expect("mysql://user@host:port/db");
        let host = host.rsplit_once('/').unwrap().0;
        let url = format!("mysql://{name}:scratch-pw@{host}/{name}");
        Self { admin, name, url }
    }

    /// A column of `information_schema.USER_STATISTICS` for the scratch user
    /// (`TOTAL_CONNECTIONS`, `LOST_CONNECTIONS`, …).
    pub async fn user_stat(&mut self, column: &str) -> i64 {
        let query = format!(
            "SELECT CAST({column} AS SIGNED) FROM information_schema.USER_STATISTICS WHERE USER = ?"
        );
        let row: Option<(i64,)> = sqlx::query_as(AssertSqlSafe(query))
            .bind(&self.name)
            .fetch_optional(&mut self.admin)
            .await
            .unwrap();
        row.map_or(0, |(n,)| n)
    }

    /// Waits until the scratch user has no connection left.
    pub async fn wait_until_idle(&mut self) {
        for _ in 0..200 {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = ?",
            )
            .bind(&self.name)
            .fetch_one(&mut self.admin)
            .await
            .unwrap();
            if n == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the scratch user's connections did not end");
    }

    /// Kills a connection, as an administrator would, and waits until it is gone.
    pub async fn kill(&mut self, id: i64) {
        sqlx::raw_sql(AssertSqlSafe(format!("KILL {id}")))
            .execute(&mut self.admin)
            .await
            .unwrap();
        for _ in 0..200 {
            let (n,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ?")
                    .bind(id)
                    .fetch_one(&mut self.admin)
                    .await
                    .unwrap();
            if n == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("connection {id} survived KILL");
    }

    /// Drops the scratch user and database.
    pub async fn drop_database(mut self) {
        for statement in [
            format!("DROP USER '{}'@'%'", self.name),
            format!("DROP DATABASE {}", self.name),
        ] {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&mut self.admin)
                .await
                .unwrap();
        }
    }
}

/// A PostgreSQL server of the test's own (initdb + pg_ctl on a free port, in a temp
/// directory), for tests that restart a server: the shared one is never disturbed.
pub struct ThrowawayPostgres {
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    port: u16,
}

impl ThrowawayPostgres {
    /// Creates and starts the server, trusting every local connection; `None` if no
    /// PostgreSQL binaries are installed.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Like [`ThrowawayPostgres::start`], but every connection must authenticate with
    /// `scram-sha-256`; the superuser `root` has `superuser_password`.
    pub fn start_checking_passwords(superuser_password: &str) -> Option<Self> {
        Self::start_with(Some(superuser_password))
    }

    fn start_with(superuser_password: Option<&str>) -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())?;
        let dir = std::env::temp_dir().join(unique("lambda_thaw_pg"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self { dir, bin, port };
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to `postgres`.
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = server.data();
        let pwfile = server.dir.join("pwfile").display().to_string();
        let mut initdb = vec!["-D", data.as_str(), "-U", "root", "--no-sync"];
        match superuser_password {
            Some(password) => {
                std::fs::write(&pwfile, password).unwrap();
                if is_root() {
                    let status = std::process::Command::new("chown")
                        .args(["postgres:postgres", &pwfile])
                        .status()
                        .unwrap();
                    assert!(status.success());
                }
                initdb.extend(["-A", "scram-sha-256", "--pwfile", pwfile.as_str()]);
            }
            None => initdb.extend(["-A", "trust"]),
        }
        server.run("initdb", &initdb);
        server.pg_ctl("start");
        Some(server)
    }

    /// A URL to its `postgres` database as `root` (add a password where it checks them).
    pub fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:{}/postgres", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts it, ending every connection (`pg_ctl restart -m fast`).
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-m",
                "fast",
                "-w",
                action,
            ],
        );
    }

    /// A command running one of the server's programs, as `postgres` when we are root.
    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the tests run as root (asked once: every server command depends on it).
fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false)
    })
}

/// A scratch database on either shared server, for checks that read the same thing from
/// both: connections opened and connections that ended without a clean disconnect.
pub enum Scratch {
    /// On PostgreSQL: counted by `pg_stat_database` for the scratch database.
    Postgres(PgScratch),
    /// On MariaDB: counted by `USER_STATISTICS` for the scratch user.
    MariaDb(MariaScratch),
}

impl Scratch {
    /// A scratch database on the PostgreSQL server in `LAMBDA_THAW_TEST_POSTGRES`
    /// (`None`: skipped, see [`admin_url`]).
    pub async fn postgres() -> Option<Self> {
        Some(Self::postgres_at(&admin_url("LAMBDA_THAW_TEST_POSTGRES")?).await)
    }

    /// A scratch database and user on the MariaDB server in `LAMBDA_THAW_TEST_MYSQL`.
    pub async fn mariadb() -> Option<Self> {
        Some(Self::mariadb_at(&admin_url("LAMBDA_THAW_TEST_MYSQL")?).await)
    }

    /// A scratch database on the PostgreSQL server at `admin`.
    pub async fn postgres_at(admin: &str) -> Self {
        Self::Postgres(PgScratch::create(admin).await)
    }

    /// A scratch database and user on the MariaDB server at `admin`.
    pub async fn mariadb_at(admin: &str) -> Self {
        Self::MariaDb(MariaScratch::create(admin).await)
    }

    /// "PostgreSQL" or "MariaDB".
    pub fn server(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "PostgreSQL",
            Self::MariaDb(_) => "MariaDB",
        }
    }

    /// The URL a function should use.
    pub fn url(&self) -> &str {
        match self {
            Self::Postgres(s) => &s.url,
            Self::MariaDb(s) => &s.url,
        }
    }

    /// The sessions open on the scratch database (PostgreSQL) or as the scratch user
    /// (MariaDB): backend pids or connection ids.
    pub async fn sessions(&mut self) -> Vec<i64> {
        match self {
            Self::Postgres(s) => sqlx::query_scalar(
                "SELECT CAST(pid AS BIGINT) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(&s.name)
            .fetch_all(&mut s.admin)
            .await
            .unwrap(),
            Self::MariaDb(s) => sqlx::query_scalar(
                "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE USER = ?",
            )
            .bind(&s.name)
            .fetch_all(&mut s.admin)
            .await
            .unwrap(),
        }
    }

    /// Ends the function's session from the server side.
    pub async fn kill(&mut self, session: i64) {
        match self {
            Self::Postgres(s) => s.terminate(session).await,
            Self::MariaDb(s) => s.kill(session).await,
        }
    }

    /// Connections opened so far, read once every connection has ended (so every
    /// session's statistics are in).
    pub async fn connections_opened(&mut self) -> i64 {
        match self {
            Self::Postgres(s) => {
                s.wait_until_idle().await;
                s.stat("sessions").await
            }
            Self::MariaDb(s) => {
                s.wait_until_idle().await;
                s.user_stat("TOTAL_CONNECTIONS").await
            }
        }
    }

    /// Connections that ended without a clean disconnect, once every connection has ended.
    pub async fn connections_lost(&mut self) -> i64 {
        match self {
            Self::Postgres(s) => {
                s.wait_until_idle().await;
                s.stat("sessions_abandoned").await
            }
            Self::MariaDb(s) => {
                s.wait_until_idle().await;
                s.user_stat("LOST_CONNECTIONS").await
            }
        }
    }

    /// Drops the scratch database (and user).
    pub async fn drop_database(self) {
        match self {
            Self::Postgres(s) => s.drop_database().await,
            Self::MariaDb(s) => s.drop_database().await,
        }
    }
}

/// A probe for the emulator's timeline: the number `query` counts (a session count), run
/// on `pool` each time the timeline samples; `None` when the query fails.
pub fn counting_probe(
    pool: &sqlx::AnyPool,
    query: String,
) -> lambda_thaw_emulator::scaling::ConnectionProbe {
    let pool = pool.clone();
    std::sync::Arc::new(move || {
        let pool = pool.clone();
        let query = query.clone();
        Box::pin(async move {
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(query))
                .fetch_one(&pool)
                .await
                .ok()
                .map(|n| n as u64)
        })
    })
}
