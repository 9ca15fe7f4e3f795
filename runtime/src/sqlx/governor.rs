//! The connection governor: for a fleet without a proxy, each environment gives its idle
//! connection back when the database server runs near its connection limit, so that the
//! environments serving now can connect.
//!
//! Lambda keeps an environment — and its connection — for minutes after its last
//! invocation. In a spike, hundreds of environments each hold one while most of them sit
//! frozen, and a new environment is refused ("too many clients", SQLSTATE 53300; MySQL
//! 1040/1203). serverless-mysql answers this in Node by watching the server's connection
//! count after each query; the governor does the same for sqlx pools, off the response path:
//!
//! * after each invocation — after its deferred work, before the freeze (`upkeep`) —
//!   it reads the server's limit and use, on the connection the pool holds idle (one
//!   round trip; no new connection for it): an environment in demand at most once per
//!   [`Governor::refresh`], one that may now sit idle every time;
//! * when the use is at or above [`Governor::threshold`] of the limit, it closes that idle
//!   connection — unless the environment is in demand ([`Governor::keep_if_reused_within`])
//!   and the server is not yet full; before the next handler it connects again through
//!   [`acquire`](super::acquire), which at the limit waits with jittered back-off rather
//!   than fail — for up to
//!   [`GOVERNED_CONNECTION_LIMIT_WAIT`](super::GOVERNED_CONNECTION_LIMIT_WAIT), since
//!   governed environments free their slots soon;
//! * it never touches another session, and a response never waits for it.
//!
//! Use it when a proxy (RDS Proxy, PgBouncer: `lambda_thaw::sqlx::proxy` mode) is not an
//! option. A proxy multiplexes many clients over few server connections and so serves
//! more concurrent invocations than the limit allows; the governor cannot — at most as
//! many invocations as the limit can hold a connection at once — but it stops idle
//! environments from holding the slots busy ones need, and costs nothing to deploy.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{ColumnIndex, Database, Decode, Executor, Row, Type};

use crate::emf;
use crate::lifecycle::scope::idle_gap_before_invocation;
use crate::lifecycle::upkeep;

/// When and how the governor gives connections back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Governor {
    /// Give the idle connection back when the server's connections are at or above this
    /// share of its limit (the tighter of the role's or user's and the server's).
    /// Default 0.8.
    pub threshold: f64,
    /// An environment in demand reads the server's use at most this often (one that may
    /// now sit idle reads it after each invocation). Default 1 s.
    pub refresh: Duration,
    /// Keep the connection of an environment in demand — one whose invocation came less
    /// than this long after its previous one — until the server is full (Lambda hands
    /// events to the environment used last, so under steady load the same few are reused,
    /// and giving their connections back would only make each invocation reconnect). An
    /// environment's first invocation and one after a longer idle gap give theirs back
    /// once the server runs at the threshold. Default 500 ms.
    pub keep_if_reused_within: Duration,
}

impl Governor {
    /// Whether an environment is in demand: not its first invocation, and this one came
    /// within [`keep_if_reused_within`](Self::keep_if_reused_within) of its previous one.
    fn in_demand(&self, first: bool, idle_gap: Duration) -> bool {
        !first && idle_gap < self.keep_if_reused_within
    }

    /// Whether an environment gives its idle connection back, the server being at `usage`:
    /// from the threshold on; when it is `in_demand`, only once the server is full (others
    /// may be waiting for a slot then).
    fn gives_back(&self, in_demand: bool, usage: Usage) -> bool {
        usage.share() >= self.threshold && (!in_demand || usage.in_use >= usage.limit)
    }
}

impl Default for Governor {
    fn default() -> Self {
        Self {
            threshold: 0.8,
            refresh: Duration::from_secs(1),
            keep_if_reused_within: Duration::from_millis(500),
        }
    }
}

/// The server's connections and their limit, as one reading saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Connections open (of this role or user when it has its own limit).
    pub in_use: i64,
    /// The limit they count against.
    pub limit: i64,
}

impl Usage {
    /// The tighter of the role's (or user's) limit and the server's; a limit of 0 or less
    /// is "none".
    fn tightest(role: (i64, i64), server: (i64, i64)) -> Option<Self> {
        [role, server]
            .into_iter()
            .filter(|&(_, limit)| limit > 0)
            .map(|(in_use, limit)| Usage { in_use, limit })
            .max_by(|a, b| a.share().total_cmp(&b.share()))
    }

    /// `in_use / limit`.
    pub fn share(&self) -> f64 {
        self.in_use as f64 / self.limit as f64
    }
}

/// The servers the governor reads, each with its query for (role in use, role limit,
/// server in use, server limit), as BIGINTs. PostgreSQL reserves
/// `superuser_reserved_connections` of `max_connections`; `rolconnlimit` is -1 for "none".
/// MySQL and MariaDB show other users' sessions only with the PROCESS privilege: without
/// it, the server's count is the user's own. The user's limit is the session's
/// `@@max_user_connections`: the account's own `MAX_USER_CONNECTIONS` where it has one,
/// else the global value (0 for "none") — both servers document it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Postgres,
    MySql,
}

impl Server {
    /// The server a driver of this name talks to; SQLite has no server and no limit.
    fn named(database: &str) -> Option<Self> {
        match database {
            "PostgreSQL" => Some(Self::Postgres),
            "MySQL" => Some(Self::MySql),
            _ => None,
        }
    }

    fn usage_query(self) -> &'static str {
        match self {
            Self::Postgres => {
                "SELECT CAST(count(*) FILTER (WHERE usename = current_user) AS BIGINT), \
                 CAST(COALESCE((SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user), -1) AS BIGINT), \
                 CAST(count(*) FILTER (WHERE backend_type = 'client backend') AS BIGINT), \
                 CAST(current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int AS BIGINT) \
                 FROM pg_stat_activity"
            }
            Self::MySql => {
                "SELECT CAST(COALESCE(SUM(USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)), 0) AS SIGNED), \
                 CAST(@@max_user_connections AS SIGNED), \
                 CAST(COUNT(*) AS SIGNED), \
                 CAST(@@max_connections AS SIGNED) \
                 FROM information_schema.PROCESSLIST"
            }
        }
    }
}

/// The database behind `pool`: its driver's name, or for sqlx's `Any` driver the one its
/// URL names.
fn database_of<DB: Database>(pool: &sqlx::Pool<DB>) -> String {
    if DB::NAME != "Any" {
        return DB::NAME.to_owned();
    }
    let url = sqlx::ConnectOptions::to_url_lossy(&*pool.connect_options());
    match url.scheme() {
        "postgres" | "postgresql" => "PostgreSQL",
        "mysql" | "mariadb" => "MySQL",
        _ => "SQLite",
    }
    .to_owned()
}

struct State {
    governor: Governor,
    server: Server,
    last: Mutex<Option<(Instant, Usage)>>,
    /// A connection was given back after the last invocation.
    gave_back: std::sync::atomic::AtomicBool,
    /// Invocations this environment has served under the governor.
    invocations: std::sync::atomic::AtomicU64,
}

impl State {
    fn fresh(&self) -> Option<Usage> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.filter(|(at, _)| at.elapsed() < self.governor.refresh)
            .map(|(_, usage)| usage)
    }

    fn store(&self, usage: Usage) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), usage));
    }
}

/// [`connect_with`](super::connect_with), governed ([`govern`]) — and governed from the
/// first connection on: in a spike, init is where most environments meet the limit, and
/// there it already waits up to [`GOVERNED_CONNECTION_LIMIT_WAIT`](super::GOVERNED_CONNECTION_LIMIT_WAIT)
/// for a slot that governed environments give back.
///
/// ```no_run
/// # async fn setup() -> Result<sqlx::PgPool, lambda_thaw::Error> {
/// use lambda_thaw::sqlx::{Governor, connect_governed, pool_options};
///
/// let url = std::env::var("DATABASE_URL")?;
/// let pool = connect_governed::<sqlx::Postgres>(pool_options(), &url, Governor::default()).await?;
/// # Ok(pool) }
/// ```
pub async fn connect_governed<DB>(
    options: sqlx::pool::PoolOptions<DB>,
    url: &str,
    governor: Governor,
) -> Result<sqlx::Pool<DB>, super::ConnectError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    super::limit::wait_as_governed();
    let pool = super::connect_with(options, url).await?;
    govern::<DB>(&pool, governor);
    Ok(pool)
}

/// Governs `pool` from now on (prefer [`connect_governed`], which governs the first
/// connection too): after each invocation, its idle connection is given back
/// while the server runs at or above `governor.threshold` of its connection limit. Call
/// it once, in init; on SQLite it does nothing. Name the driver (`govern::<Postgres>`), as
/// with [`connect`](super::connect): left to inference, the bounds on the driver's
/// connection can send rustc's trait solver in circles (E0275) when the `proxy` feature is
/// on.
///
/// ```no_run
/// # async fn setup() -> Result<sqlx::PgPool, lambda_thaw::Error> {
/// use lambda_thaw::sqlx::{Governor, connect, govern};
///
/// let pool = connect::<sqlx::Postgres>(&std::env::var("DATABASE_URL")?).await?;
/// govern::<sqlx::Postgres>(&pool, Governor::default());
/// # Ok(pool) }
/// ```
pub fn govern<DB>(pool: &sqlx::Pool<DB>, governor: Governor)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let Some(server) = Server::named(&database_of(pool)) else {
        return;
    };
    super::limit::wait_as_governed();
    let state = Arc::new(State {
        governor,
        server,
        last: Mutex::new(None),
        gave_back: std::sync::atomic::AtomicBool::new(false),
        invocations: std::sync::atomic::AtomicU64::new(0),
    });
    let after = (pool.clone(), state.clone());
    upkeep::register(Arc::new(move || {
        let (pool, state) = after.clone();
        Box::pin(async move { give_back_if_hot::<DB>(&pool, &state).await })
    }));
    // Before the next handler, the connection given back is opened again through
    // `acquire`: at the limit it waits with back-off (sqlx's pool returns MySQL's refusal
    // at once), and the handler then finds it idle in the pool.
    let before = (pool.clone(), state);
    upkeep::register_before(Arc::new(move || {
        let (pool, state) = before.clone();
        Box::pin(async move {
            if state
                .gave_back
                .swap(false, std::sync::atomic::Ordering::Relaxed)
                && let Err(error) = super::acquire(&pool).await
            {
                tracing::info!(%error, "could not reconnect before the handler");
            }
        })
    }));
}

/// After an invocation: read the server's use (if the last reading is stale) on the idle
/// connection, and close that connection if the server runs hot.
async fn give_back_if_hot<DB>(pool: &sqlx::Pool<DB>, state: &State)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let first = state
        .invocations
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        == 0;
    let in_demand = state
        .governor
        .in_demand(first, idle_gap_before_invocation());
    // An environment in demand runs this again soon, so a reading up to `refresh` old
    // serves it. One that may now sit idle — frozen, for minutes — keeping its slot
    // decides on a reading of now: in a spike, one taken a second ago said "room" while
    // the burst filled the server, and each environment that trusted it kept a slot the
    // cold ones waited for in vain (200 arrivals in 20 ms onto a limit of 20: 12 failed).
    let cached = if in_demand { state.fresh() } else { None };
    // A fresh reading that says keep: nothing to read, nothing to give back.
    if cached.is_some_and(|usage| !state.governor.gives_back(in_demand, usage)) {
        return;
    }
    // Only a connection nobody uses (another invocation of a Managed Instance may hold the
    // rest); none idle, nothing to give back, and no connection opened to ask. Held from
    // here to the end: a connection returned to the pool goes back on a task of its own,
    // and would not be idle again at once to be given back.
    let Some(mut connection) = idle_connection(pool).await else {
        return;
    };
    let usage = match cached {
        Some(usage) => Some(usage),
        None => match read_usage::<DB>(&mut connection, state).await {
            Ok(usage) => {
                if let Some(usage) = usage {
                    state.store(usage);
                }
                usage
            }
            Err(error) => {
                // A connection that cannot answer is no use to keep either.
                tracing::info!(%error, "the connection governor could not read the server's connections; closing the connection");
                give_back(connection, state).await;
                return;
            }
        },
    };
    if usage.is_some_and(|usage| state.governor.gives_back(in_demand, usage)) {
        tracing::info!(
            ?usage,
            "the database runs near its connection limit; giving this environment's idle connection back"
        );
        give_back(connection, state).await;
    }
}

/// The pool's idle connection, waiting a moment for the one the handler dropped: sqlx
/// returns it to the pool on a task of its own, which may not have run yet when the
/// invocation's upkeep starts (on an idle machine, it usually has not).
async fn idle_connection<DB: Database>(
    pool: &sqlx::Pool<DB>,
) -> Option<sqlx::pool::PoolConnection<DB>> {
    const WAIT: Duration = Duration::from_millis(50);
    let started = Instant::now();
    loop {
        if let Some(connection) = pool.try_acquire() {
            return Some(connection);
        }
        // No connection at all (given back already), or one still in use elsewhere.
        if pool.size() == 0 || started.elapsed() >= WAIT {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn read_usage<DB>(
    connection: &mut DB::Connection,
    state: &State,
) -> Result<Option<Usage>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::raw_sql(state.server.usage_query())
        .fetch_one(&mut *connection)
        .await?;
    let role = (row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?);
    let server = (row.try_get::<i64, _>(2)?, row.try_get::<i64, _>(3)?);
    Ok(Usage::tightest(role, server))
}

/// Closes `connection` (the pool opens another when next asked) and has the next handler
/// reconnect first.
async fn give_back<DB: Database>(connection: sqlx::pool::PoolConnection<DB>, state: &State) {
    emf::count(emf::names::CONNECTIONS_GIVEN_BACK, 1);
    let _ = connection.close().await;
    state
        .gave_back
        .store(true, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tighter_limit_counts_and_no_limit_is_none() {
        // The fuller of two limits is the one that counts.
        assert_eq!(
            Usage::tightest((5, 10), (90, 100)),
            Some(Usage {
                in_use: 90,
                limit: 100
            })
        );
        // A limit of exactly one is a limit.
        assert_eq!(
            Usage::tightest((1, 1), (1, 0)),
            Some(Usage {
                in_use: 1,
                limit: 1
            })
        );
        // A role limited to 10 with 9 open, on a server of 100 with 20 open: the role's.
        assert_eq!(
            Usage::tightest((9, 10), (20, 97)),
            Some(Usage {
                in_use: 9,
                limit: 10
            })
        );
        // No role limit (-1 on PostgreSQL, 0 on MySQL): the server's.
        assert_eq!(
            Usage::tightest((9, -1), (90, 97)),
            Some(Usage {
                in_use: 90,
                limit: 97
            })
        );
        assert_eq!(
            Usage::tightest((9, 0), (90, 97)),
            Some(Usage {
                in_use: 90,
                limit: 97
            })
        );
        assert_eq!(Usage::tightest((1, 0), (1, 0)), None);
        assert_eq!(
            Usage {
                in_use: 8,
                limit: 10
            }
            .share(),
            0.8
        );
    }

    #[test]
    fn from_the_threshold_on_an_environment_gives_back_unless_in_demand_and_the_server_not_full() {
        let governor = Governor::default();
        let at = |in_use| Usage { in_use, limit: 10 };
        let cases = [
            // (in demand, in use of 10, gives back)
            (false, 7, false),
            (false, 8, true),
            (false, 10, true),
            (true, 8, false),
            (true, 9, false),
            (true, 10, true),
            (true, 11, true),
        ];
        for (in_demand, in_use, expected) in cases {
            assert_eq!(
                governor.gives_back(in_demand, at(in_use)),
                expected,
                "in demand {in_demand}, {in_use} of 10"
            );
        }
    }

    #[test]
    fn an_environment_reused_within_half_a_second_is_in_demand_and_a_new_one_is_not() {
        let governor = Governor::default();
        let ms = Duration::from_millis;
        assert!(governor.in_demand(false, ms(10)));
        assert!(governor.in_demand(false, ms(499)));
        assert!(!governor.in_demand(false, ms(500)));
        assert!(!governor.in_demand(true, ms(0)), "its first invocation");
    }

    #[test]
    fn a_reading_is_fresh_for_the_refresh_period_only() {
        let state = |refresh| State {
            governor: Governor {
                refresh,
                ..Governor::default()
            },
            server: Server::Postgres,
            last: Mutex::new(None),
            gave_back: std::sync::atomic::AtomicBool::new(false),
            invocations: std::sync::atomic::AtomicU64::new(0),
        };
        let usage = Usage {
            in_use: 3,
            limit: 10,
        };
        let kept = state(Duration::from_secs(3600));
        assert_eq!(kept.fresh(), None, "nothing read yet");
        kept.store(usage);
        assert_eq!(kept.fresh(), Some(usage));
        let stale = state(Duration::ZERO);
        stale.store(usage);
        assert_eq!(stale.fresh(), None, "read again after the refresh period");
    }

    #[tokio::test]
    async fn the_database_is_the_driver_s_or_for_any_the_url_s() {
        sqlx::any::install_default_drivers();
        let postgres = sqlx::PgPool::connect_lazy("postgres://app@127.0.0.1:1/db").unwrap();
        assert_eq!(database_of(&postgres), "PostgreSQL");
        for (url, database) in [
            ("postgres://app@127.0.0.1:1/db", "PostgreSQL"),
            ("postgresql://app@127.0.0.1:1/db", "PostgreSQL"),
            ("mysql://app@127.0.0.1:1/db", "MySQL"),
            ("mariadb://app@127.0.0.1:1/db", "MySQL"),
            ("sqlite::memory:", "SQLite"),
        ] {
            let pool = sqlx::AnyPool::connect_lazy(url).unwrap();
            assert_eq!(database_of(&pool), database, "{url}");
        }
    }

    #[test]
    fn each_server_database_has_its_query_and_sqlite_none() {
        assert!(Server::Postgres.usage_query().contains("pg_stat_activity"));
        assert!(Server::MySql.usage_query().contains("max_user_connections"));
        assert_eq!(Server::named("PostgreSQL"), Some(Server::Postgres));
        assert_eq!(Server::named("MySQL"), Some(Server::MySql));
        assert_eq!(Server::named("SQLite"), None);
    }
}
