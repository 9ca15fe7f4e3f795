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
//!   it reads the server's limit and use, on the connection the pool holds idle, at most
//!   once per [`Governor::refresh`] (one round trip; no new connection for it);
//! * when the use is at or above [`Governor::threshold`] of the limit, it closes that idle
//!   connection; the next invocation connects again, and at the limit waits with the
//!   jittered back-off of [`acquire`](super::acquire) rather than fail — for up to
//!   [`GOVERNED_CONNECTION_LIMIT_WAIT`](super::GOVERNED_CONNECTION_LIMIT_WAIT), since
//!   governed environments free their slots soon;
//! * it never touches another session, and a response never waits for it.
//!
//! Use it when a proxy (RDS Proxy, PgBouncer: [`proxy`](super::proxy) mode) is not an
//! option. A proxy multiplexes many clients over few server connections and so serves
//! more concurrent invocations than the limit allows; the governor cannot — at most as
//! many invocations as the limit can hold a connection at once — but it stops idle
//! environments from holding the slots busy ones need, and costs nothing to deploy.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{ColumnIndex, Database, Decode, Executor, Row, Type};

use crate::emf;
use crate::lifecycle::upkeep;

/// When and how the governor gives connections back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Governor {
    /// Give the idle connection back when the server's connections are at or above this
    /// share of its limit (the tighter of the role's or user's and the server's).
    /// Default 0.8.
    pub threshold: f64,
    /// Read the server's use at most this often per environment. Default 1 s.
    pub refresh: Duration,
}

impl Default for Governor {
    fn default() -> Self {
        Self {
            threshold: 0.8,
            refresh: Duration::from_secs(1),
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

/// What each database tells about its connections: (role in use, role limit, server in
/// use, server limit), as BIGINTs. PostgreSQL reserves `superuser_reserved_connections`
/// of `max_connections`; `rolconnlimit` is -1 for "none". MySQL and MariaDB show other
/// users' sessions only with the PROCESS privilege: without it, the server's count is the
/// user's own, and the user's limit (`max_user_connections`, 0 for "none") still applies.
fn usage_query(database: &str) -> Option<&'static str> {
    match database {
        "PostgreSQL" => Some(
            "SELECT CAST(count(*) FILTER (WHERE usename = current_user) AS BIGINT), \
             CAST(COALESCE((SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user), -1) AS BIGINT), \
             CAST(count(*) FILTER (WHERE backend_type = 'client backend') AS BIGINT), \
             CAST(current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int AS BIGINT) \
             FROM pg_stat_activity",
        ),
        "MySQL" => Some(
            "SELECT CAST(COALESCE(SUM(USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)), 0) AS SIGNED), \
             CAST(@@max_user_connections AS SIGNED), \
             CAST(COUNT(*) AS SIGNED), \
             CAST(@@max_connections AS SIGNED) \
             FROM information_schema.PROCESSLIST",
        ),
        // SQLite has no server and no connection limit.
        _ => None,
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
    last: Mutex<Option<(Instant, Usage)>>,
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
/// it once, in init; on SQLite it does nothing.
///
/// ```no_run
/// # async fn setup() -> Result<sqlx::PgPool, lambda_thaw::Error> {
/// use lambda_thaw::sqlx::{Governor, connect, govern};
///
/// let pool = connect::<sqlx::Postgres>(&std::env::var("DATABASE_URL")?).await?;
/// govern(&pool, Governor::default());
/// # Ok(pool) }
/// ```
pub fn govern<DB>(pool: &sqlx::Pool<DB>, governor: Governor)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let Some(query) = usage_query(&database_of(pool)) else {
        return;
    };
    super::limit::wait_as_governed();
    let state = Arc::new(State {
        governor,
        last: Mutex::new(None),
    });
    let pool = pool.clone();
    upkeep::register(Arc::new(move || {
        let pool = pool.clone();
        let state = state.clone();
        Box::pin(async move { give_back_if_hot::<DB>(&pool, &state, query).await })
    }));
}

/// After an invocation: read the server's use (if the last reading is stale) on the idle
/// connection, and close that connection if the server runs hot.
async fn give_back_if_hot<DB>(pool: &sqlx::Pool<DB>, state: &State, query: &'static str)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    // Only a connection nobody uses (another invocation of a Managed Instance may hold the
    // rest); none idle, nothing to give back.
    let Some(mut connection) = pool.try_acquire() else {
        return;
    };
    let usage = match state.fresh() {
        Some(usage) => Some(usage),
        None => match read_usage::<DB>(&mut connection, query).await {
            Ok(usage) => {
                if let Some(usage) = usage {
                    state.store(usage);
                }
                usage
            }
            Err(error) => {
                // A connection that cannot answer is no use to keep either.
                tracing::info!(%error, "the connection governor could not read the server's connections; closing the connection");
                close(connection).await;
                return;
            }
        },
    };
    let Some(usage) = usage else { return };
    if usage.share() >= state.governor.threshold {
        tracing::info!(
            in_use = usage.in_use,
            limit = usage.limit,
            "the database runs near its connection limit; giving this environment's idle connection back"
        );
        close(connection).await;
    }
}

async fn read_usage<DB>(
    connection: &mut DB::Connection,
    query: &'static str,
) -> Result<Option<Usage>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::raw_sql(query).fetch_one(&mut *connection).await?;
    let role = (row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?);
    let server = (row.try_get::<i64, _>(2)?, row.try_get::<i64, _>(3)?);
    Ok(Usage::tightest(role, server))
}

async fn close<DB: Database>(connection: sqlx::pool::PoolConnection<DB>) {
    emf::count(emf::names::CONNECTIONS_GIVEN_BACK, 1);
    let _ = connection.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tighter_limit_counts_and_no_limit_is_none() {
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
    fn each_server_database_has_its_query_and_sqlite_none() {
        assert!(
            usage_query("PostgreSQL")
                .unwrap()
                .contains("pg_stat_activity")
        );
        assert!(
            usage_query("MySQL")
                .unwrap()
                .contains("max_user_connections")
        );
        assert_eq!(usage_query("SQLite"), None);
    }
}
