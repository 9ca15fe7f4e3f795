//! sqlx pool options tuned for Lambda (feature `sqlx`).
//!
//! Each choice answers a Lambda behaviour:
//!
//! * **Pool size = `AWS_LAMBDA_MAX_CONCURRENCY`** (1 when unset). A classic environment
//!   runs one invocation at a time, so one connection serves it; more would only sit idle
//!   and multiply the database's connection count by the number of environments. Under
//!   Managed Instances each concurrent invocation gets its own.
//! * **No idle minimum.** An environment may be frozen for hours or thrown away without
//!   notice; a minimum would only make the pool's maintenance task reconnect on thaw.
//! * **No round trip before every acquire** (`test_before_acquire(false)`, sqlx's default is
//!   true): a warm connection used a moment ago is alive; a ping on every acquire costs a
//!   round trip per query.
//! * **A liveness check after a gap**: a connection idle for at least
//!   [`FREEZE_CHECK_AFTER`], or any connection acquired in an invocation that started at
//!   least that long after the previous one ended ([`crate::idle_gap_before_invocation`]),
//!   may have sat through a freeze while the database, a proxy or a NAT closed it, so it is
//!   pinged before use and silently replaced if dead — before the handler's query can fail
//!   on it. The ping is bounded by [`LIVENESS_TIMEOUT`]: a connection whose path went
//!   silent (no FIN, no RST) is replaced within it, not at the deadline. Back-to-back warm
//!   invocations pay nothing.
//! * **A connection the server closed a moment ago** is replaced too, at any gap: before
//!   each acquire the kernel is asked (no round trip) whether a TCP socket of the process
//!   has been closed by its peer, and only then is the connection pinged. Nothing is ever
//!   retried — the check comes before the statement is sent — so no statement runs twice
//!   (`closed_by_peer.rs` says how each database closes a session).
//! * **Acquire timeout from the time left**: at most 5 s (well inside Lambda's 10 s init
//!   limit, for eager init), and inside an invocation — a lazy init, or options built per
//!   invocation — no later than [`CONNECT_MARGIN`] before its deadline
//!   (its deadline less the `deadline_margin`): Lambda's default timeout is 3 s, shorter than sqlx's 5 s
//!   connect wait, so an unreachable database is an error the invocation reports, not a
//!   killed environment. Every connect lambda-thaw makes ([`connect`], [`connect_governed`],
//!   `ProxyPool`, [`RotatingPool`], and so the idempotency store's pool) is bounded so: a
//!   server that takes the connection and never answers is a [`ConnectError`] within that
//!   time, naming the host, port and database ([`AcquireError::NoAnswer`]), never Lambda's
//!   bare `Runtime.InitTimeout`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database};

use crate::cache::TtlCache;
use crate::close::Close;
use crate::emf;
use crate::lifecycle::scope::{idle_gap_before_invocation, time_before_guard};
use crate::redact::redact_secrets;

mod closed_by_peer;
#[cfg(test)]
pub(crate) mod database_error;
mod governor;
mod limit;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;
pub(crate) mod schema;
mod settle;
mod target;

pub use governor::{Governor, Usage, connect_governed, govern};
pub use limit::{
    AcquireError, CONNECTION_LIMIT_WAIT, ConnectionLimitError, GOVERNED_CONNECTION_LIMIT_WAIT,
    acquire, is_connection_limit,
};
pub use schema::create_schema;

/// How long a connection may sit idle before it is pinged on acquire. Lambda freezes an
/// environment as soon as an invocation completes, so any idle gap may be a freeze;
/// one second keeps back-to-back traffic free of pings while catching every gap long
/// enough for a server to have closed the connection.
pub const FREEZE_CHECK_AFTER: Duration = Duration::from_secs(1);

/// How long the liveness check's ping may take before the connection is taken for dead
/// and replaced. A path that forgot an idle connection (a NAT gateway or an ENI drops a
/// flow idle for 350 s, without FIN or RST) swallows the ping; this bounds what that costs
/// to a fraction of a second instead of the invocation's deadline. Inside a VPC a round
/// trip to the database takes about a millisecond; 300 ms leaves room for a server under
/// load, and a ping slower than that costs only a fresh connection.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_millis(300);

/// The longest an acquire (and so the first connect in init) may wait.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Inside an invocation, an acquire gives up this long before the deadline, leaving time
/// to report its error.
pub const CONNECT_MARGIN: Duration = Duration::from_millis(200);

pub use crate::lifecycle::start::max_concurrency;

/// How long an acquire may wait, from here: [`ACQUIRE_TIMEOUT`], or less when the current
/// invocation's deadline guard (its deadline less the function's `deadline_margin`) comes
/// sooner.
pub fn acquire_timeout() -> Duration {
    match time_before_guard() {
        Some(left) => ACQUIRE_TIMEOUT
            .min(left.saturating_sub(CONNECT_MARGIN))
            .max(Duration::from_millis(1)),
        None => ACQUIRE_TIMEOUT,
    }
}

/// Pool options for a Lambda function; see the module docs for each choice. Add your own
/// on top — for work on each new connection, [`after_connect`] keeps the
/// `ConnectionsOpened` metric that sqlx's own `after_connect` would replace. Connect them
/// with [`connect_with`] rather than sqlx's `PoolOptions::connect`: its error names the
/// database, and the pool's connections are let back before each freeze.
///
/// ```no_run
/// # async fn demo<DB: sqlx::Database>() -> Result<(), lambda_thaw::Error> {
/// // DB is your driver, e.g. sqlx::Postgres
/// let options = lambda_thaw::sqlx::pool_options::<DB>()
///     .max_lifetime(std::time::Duration::from_secs(3600));
/// let pool = lambda_thaw::sqlx::connect_with(options, &std::env::var("DATABASE_URL")?).await?;
/// # Ok(()) }
/// ```
pub fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(max_concurrency())
        .min_connections(0)
        .test_before_acquire(false)
        .acquire_timeout(acquire_timeout())
        .after_connect(|_, _| {
            emf::count(emf::names::CONNECTIONS_OPENED, 1);
            Box::pin(std::future::ready(Ok(())))
        })
        .before_acquire(|connection: &mut DB::Connection, meta| {
            Box::pin(async move {
                // The connection's own idle time, or — under lambda-thaw's runtime — the
                // environment's idle gap before this invocation (a connection may have been
                // returned to the pool only after the thaw; see `idle_gap_before_invocation`).
                if meta.idle_for < FREEZE_CHECK_AFTER
                    && idle_gap_before_invocation() < FREEZE_CHECK_AFTER
                    // The server may have closed it a moment ago: the kernel knows.
                    && !closed_by_peer::any_closed_by_peer()
                {
                    return Ok(true);
                }
                // Bounded: a path that forgot the connection while the environment was
                // frozen drops the ping without a FIN or RST, and an unbounded ping would
                // wait out the whole acquire timeout (the invocation's deadline).
                match tokio::time::timeout(LIVENESS_TIMEOUT, connection.ping()).await {
                    Ok(Ok(())) => {
                        emf::count(emf::names::CONNECTIONS_REUSED_AFTER_FREEZE, 1);
                        Ok(true)
                    }
                    Ok(Err(error)) => {
                        emf::count(emf::names::CONNECTIONS_REPLACED, 1);
                        tracing::info!(%error, idle_ms = meta.idle_for.as_millis() as u64, "replacing a connection that died while idle");
                        Ok(false)
                    }
                    Err(_) => {
                        emf::count(emf::names::CONNECTIONS_REPLACED, 1);
                        tracing::info!(
                            idle_ms = meta.idle_for.as_millis() as u64,
                            timeout_ms = LIVENESS_TIMEOUT.as_millis() as u64,
                            "replacing a connection whose ping went unanswered: the path to the database went silent while idle"
                        );
                        // sqlx closes it hard (no goodbye to a peer that cannot hear it).
                        Ok(false)
                    }
                }
            })
        })
}

/// `options` with `callback` run on each new connection (a `SET`, a session variable),
/// after lambda-thaw counts it for the `ConnectionsOpened` metric. sqlx's own
/// `PoolOptions::after_connect` replaces the count; this keeps both.
///
/// ```no_run
/// # async fn demo() -> Result<(), lambda_thaw::Error> {
/// let options = lambda_thaw::sqlx::after_connect(
///     lambda_thaw::sqlx::pool_options::<sqlx::Postgres>(),
///     |connection, _meta| {
///         Box::pin(async move {
///             sqlx::query("SET statement_timeout = 2000").execute(connection).await?;
///             Ok(())
///         })
///     },
/// );
/// let pool = lambda_thaw::sqlx::connect_with(options, &std::env::var("DATABASE_URL")?).await?;
/// # Ok(()) }
/// ```
pub fn after_connect<DB, F>(options: PoolOptions<DB>, callback: F) -> PoolOptions<DB>
where
    DB: Database,
    F: for<'c> Fn(
            &'c mut DB::Connection,
            sqlx::pool::PoolConnectionMetadata,
        ) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>>
        + Send
        + Sync
        + 'static,
{
    options.after_connect(move |connection, meta| {
        emf::count(emf::names::CONNECTIONS_OPENED, 1);
        callback(connection, meta)
    })
}

/// A failed [`connect`]: names the database (URL with the password hidden) and the cause.
#[derive(Debug)]
pub struct ConnectError {
    url: String,
    source: AcquireError,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cause = redact_secrets(&self.source.to_string());
        match target::describe(&self.url) {
            Some(target) => write!(f, "cannot connect to {} ({target}): {cause}", self.url),
            None => write!(f, "cannot connect to {}: {cause}", self.url),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Connects a pool with [`pool_options`]; the error names the database (password
/// hidden) and the cause, so a failed init says which host did not answer and why.
///
/// ```no_run
/// # async fn demo<DB: sqlx::Database>() -> Result<(), lambda_thaw::Error> {
/// // DB is your driver, e.g. sqlx::Postgres
/// let pool = lambda_thaw::sqlx::connect::<DB>(&std::env::var("DATABASE_URL")?).await?;
/// # Ok(()) }
/// ```
pub async fn connect<DB: Database>(url: &str) -> Result<sqlx::Pool<DB>, ConnectError> {
    connect_with(pool_options(), url).await
}

/// [`connect`] with your own options (start from [`pool_options`]).
///
/// The first connection is opened now, in init, through [`acquire`]: sqlx retries a
/// refused connection until its acquire timeout and then reports only "pool timed out",
/// so after a short wait one direct attempt learns the cause and the error says *why*
/// (refused, unknown host, bad password); a database at its connection limit is waited
/// for with back-off and then reported as a [`ConnectionLimitError`].
pub async fn connect_with<DB: Database>(
    options: PoolOptions<DB>,
    url: &str,
) -> Result<sqlx::Pool<DB>, ConnectError> {
    let failed = |source| ConnectError {
        url: redact_secrets(url),
        source,
    };
    let pool = options
        .connect_lazy(url)
        .map_err(|error| failed(AcquireError::Other(error)))?;
    drop(acquire(&pool).await.map_err(failed)?);
    settle::before_each_freeze(&pool);
    Ok(pool)
}

type FetchSecret = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<String, lambda_runtime::Error>> + Send>,
        > + Send
        + Sync,
>;

/// A driver's connect options.
pub type ConnectOptionsOf<DB> = <<DB as Database>::Connection as Connection>::Options;

/// Puts a secret into connect options, e.g. `|options, password| options.password(password)`.
pub type SetSecret<DB> = fn(ConnectOptionsOf<DB>, &str) -> ConnectOptionsOf<DB>;

/// A pool whose *new* connections authenticate with a secret from a cached, TTL-refreshed
/// source — a rotated password from Secrets Manager, an RDS IAM token (valid 15 minutes).
/// Existing connections keep working; the database only checks the secret when a
/// connection is opened.
///
/// [`RotatingPool::acquire`] reads the secret through a [`crate::TtlCache`] (one fetch per
/// TTL, single flight) and hands it to the pool for the connections it opens next. If the
/// database rejects the cached secret (it was rotated before the TTL ran out), the secret is
/// refetched at once and the connection retried, so a rotation never fails an invocation.
///
/// ```no_run
/// use std::time::Duration;
/// use lambda_thaw::sqlx::{RotatingPool, pool_options};
///
/// # async fn fetch_password() -> Result<String, lambda_thaw::Error> { Ok(String::new()) }
/// # async fn demo<DB: sqlx::Database>(base: <DB::Connection as sqlx::Connection>::Options,
/// #     set_password: fn(<DB::Connection as sqlx::Connection>::Options, &str) -> <DB::Connection as sqlx::Connection>::Options)
/// #     -> Result<(), lambda_thaw::Error> {
/// // With PostgreSQL: base = PgConnectOptions::from_str(url)?, set_password = |o, p| o.password(p)
/// let db = RotatingPool::<DB>::connect(pool_options(), base, set_password, Duration::from_secs(300), fetch_password).await?;
/// # Ok(()) }
/// ```
pub struct RotatingPool<DB: Database> {
    pool: sqlx::Pool<DB>,
    base: ConnectOptionsOf<DB>,
    set_secret: SetSecret<DB>,
    secret: TtlCache<String>,
    fetch: FetchSecret,
    /// The secret the pool's connect options currently carry.
    applied: std::sync::Mutex<Option<std::sync::Arc<String>>>,
}

impl<DB: Database> RotatingPool<DB> {
    /// Fetches the secret, connects the pool with it (the error names the host and cause,
    /// password hidden), and keeps `fetch` to refresh it every `ttl`.
    pub async fn connect<F, Fut, E>(
        options: PoolOptions<DB>,
        base: ConnectOptionsOf<DB>,
        set_secret: SetSecret<DB>,
        ttl: Duration,
        fetch: F,
    ) -> Result<Self, lambda_runtime::Error>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<String, E>> + Send + 'static,
        E: Into<lambda_runtime::Error>,
    {
        let fetch: FetchSecret = std::sync::Arc::new(move || {
            let future = fetch();
            Box::pin(async move { future.await.map_err(Into::into) })
        });
        let first = fetch().await?;
        let pool = options.connect_lazy_with(set_secret(base.clone(), &first));
        // The first connection now, in init: a wrong secret or host fails init, not an
        // invocation.
        let secret = TtlCache::new(ttl);
        let applied = secret.set(first);
        drop(acquire(&pool).await?);
        settle::before_each_freeze(&pool);
        Ok(Self {
            pool,
            base,
            set_secret,
            secret,
            fetch,
            applied: std::sync::Mutex::new(Some(applied)),
        })
    }

    /// The underlying pool (its new connections use the secret last applied).
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    /// A connection, opened with a current secret if a new one is needed.
    pub async fn acquire(
        &'static self,
    ) -> Result<sqlx::pool::PoolConnection<DB>, lambda_runtime::Error> {
        let fetch = self.fetch.clone();
        let secret = self.secret.get(move || fetch()).await?;
        self.apply(&secret);
        match acquire(&self.pool).await {
            Err(AcquireError::Other(error)) if is_rejected_credential(&error) => {
                tracing::info!(%error, "the database rejected the cached secret; fetching a fresh one");
                let fetch = self.fetch.clone();
                let secret = self.secret.refresh(move || fetch()).await?;
                self.apply(&secret);
                Ok(acquire(&self.pool).await?)
            }
            result => Ok(result?),
        }
    }

    /// Gives the pool `secret` for the connections it opens from now on.
    fn apply(&self, secret: &std::sync::Arc<String>) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if applied
            .as_ref()
            .is_some_and(|a| std::sync::Arc::ptr_eq(a, secret))
        {
            return;
        }
        self.pool
            .set_connect_options((self.set_secret)(self.base.clone(), secret));
        *applied = Some(secret.clone());
    }
}

impl<DB: Database> Close for RotatingPool<DB> {
    async fn close(&self) {
        self.pool.close().await
    }
}

/// SQLSTATE class 28: invalid authorization (PostgreSQL `28P01`, MySQL/MariaDB 1045 → `28000`).
fn is_rejected_credential(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code.starts_with("28"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ACQUIRE_TIMEOUT, CONNECT_MARGIN, acquire_timeout};
    use crate::lifecycle::context::{Deadline, now_ms};
    use crate::lifecycle::scope::scope;

    #[tokio::test]
    async fn the_acquire_timeout_ends_before_the_invocations_deadline() {
        assert_eq!(
            acquire_timeout(),
            ACQUIRE_TIMEOUT,
            "outside an invocation: eager init's 5 s"
        );
        let in_one_second = Some(Deadline(now_ms() + 1_000));
        let timeout = scope(in_one_second, 0, Duration::ZERO, async {
            acquire_timeout()
        })
        .await;
        assert!(
            timeout <= Duration::from_secs(1) - CONNECT_MARGIN,
            "{timeout:?}"
        );
        assert!(timeout >= Duration::from_millis(500), "{timeout:?}");
        let in_a_minute = Some(Deadline(now_ms() + 60_000));
        let timeout = scope(in_a_minute, 0, Duration::ZERO, async { acquire_timeout() }).await;
        assert_eq!(timeout, ACQUIRE_TIMEOUT);
        // The function's own margin: a guard 2 s before a deadline 4 s away fires in 2 s.
        let in_four_seconds = Some(Deadline(now_ms() + 4_000));
        let timeout = scope(in_four_seconds, 2_000, Duration::ZERO, async {
            acquire_timeout()
        })
        .await;
        assert!(
            timeout <= Duration::from_secs(2) - CONNECT_MARGIN,
            "{timeout:?}"
        );
        assert!(timeout >= Duration::from_millis(1_500), "{timeout:?}");
    }

    /// A server that takes the connection and never answers: the connect gives up within
    /// the pool's acquire timeout, naming host, port and database, on either protocol
    /// (PostgreSQL's client speaks first, MySQL's waits for the server's greeting).
    #[tokio::test]
    async fn a_connect_to_a_server_that_never_answers_is_bounded_and_names_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let bound = Duration::from_millis(800);
        let started = std::time::Instant::now();
        let url = format!("postgres://app:pw@127.0.0.1:{port}/orders");
        let options = super::pool_options::<sqlx::Postgres>().acquire_timeout(bound);
        let error = super::connect_with(options, &url).await.unwrap_err();
        let postgres = started.elapsed();
        let started = std::time::Instant::now();
        let url = format!("mysql://app:pw@127.0.0.1:{port}/orders");
        let options = super::pool_options::<sqlx::MySql>().acquire_timeout(bound);
        let mysql_error = super::connect_with(options, &url).await.unwrap_err();
        let mysql = started.elapsed();
        holder.abort();
        for (error, took) in [(error, postgres), (mysql_error, mysql)] {
            let message = error.to_string();
            assert!(
                matches!(error.source, super::AcquireError::NoAnswer(_)),
                "{message}"
            );
            assert!(
                message.contains(&format!("(host 127.0.0.1, port {port}, database orders)")),
                "{message}"
            );
            assert!(message.contains("did not answer"), "{message}");
            assert!(!message.contains(":pw@"), "{message}");
            assert!(took >= bound - Duration::from_millis(50), "{took:?}");
            assert!(took < bound + Duration::from_millis(700), "{took:?}");
        }
    }

    #[tokio::test]
    async fn after_connect_keeps_the_options_and_runs_on_each_new_connection() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let options = super::after_connect(
            super::pool_options::<sqlx::Sqlite>().max_connections(2),
            |connection, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA user_version = 7")
                        .execute(connection)
                        .await?;
                    CALLS.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            },
        );
        let pool = super::connect_with(options, "sqlite::memory:")
            .await
            .unwrap();
        assert_eq!(pool.options().get_max_connections(), 2, "the options given");
        // Both connections at once: the first (opened by connect) and a second, new one.
        let first = pool.acquire().await.unwrap();
        let mut second = pool.acquire().await.unwrap();
        let (version,): (i64,) = sqlx::query_as("PRAGMA user_version")
            .fetch_one(&mut *second)
            .await
            .unwrap();
        assert_eq!(version, 7, "the callback ran on the new connection");
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        drop((first, second));
        pool.close().await;
    }

    #[tokio::test]
    async fn a_failed_connect_names_the_database_and_keeps_its_cause() {
        let url = "sqlite:///lambda-thaw-no-such-directory/orders.db?mode=ro";
        let error = super::connect::<sqlx::Sqlite>(url)
            .await
            .expect_err("no such file");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("cannot connect to {url}: ")),
            "{message}"
        );
        let cause = std::error::Error::source(&error).expect("the cause, for error chains");
        assert!(message.ends_with(&cause.to_string()), "{message} / {cause}");
    }

    #[tokio::test]
    async fn a_rotating_pool_fetches_its_secret_again_only_when_the_database_rejects_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FETCHES: AtomicUsize = AtomicUsize::new(0);
        // SQLite has no password: the "secret" here is the database's file name.
        let file = std::env::temp_dir().join(format!("lt-rotating-{}.db", std::process::id()));
        let name = file.display().to_string();
        let base = sqlx::sqlite::SqliteConnectOptions::new().create_if_missing(true);
        let pool = super::RotatingPool::<sqlx::Sqlite>::connect(
            super::pool_options(),
            base,
            |options, secret| options.filename(secret),
            Duration::from_secs(3600),
            move || {
                FETCHES.fetch_add(1, Ordering::SeqCst);
                let name = name.clone();
                async move { Ok::<_, std::io::Error>(name) }
            },
        )
        .await
        .unwrap();
        let pool: &'static _ = Box::leak(Box::new(pool));
        drop(pool.acquire().await.unwrap());
        assert_eq!(FETCHES.load(Ordering::SeqCst), 1, "one fetch per TTL");
        // Closed as the shutdown hook closes it, its pool is closed.
        crate::close::Close::close(pool).await;
        assert!(pool.pool().is_closed());
        // Another failure than a rejected secret (here: the pool is closed) is returned as
        // it is, without asking the secret's source again.
        assert!(pool.acquire().await.is_err());
        assert_eq!(
            FETCHES.load(Ordering::SeqCst),
            1,
            "no refetch for another error"
        );
        let _ = std::fs::remove_file(&file);
    }
}
