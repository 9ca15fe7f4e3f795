//! Proxy mode: a pool for a database behind a transaction-pooling proxy — RDS Proxy,
//! PgBouncer in `pool_mode = transaction` — where each *transaction* may run on a
//! different server connection than the one before.
//!
//! sqlx prepares every parameterised query as a **named** statement (`sqlx_s_1`, …) and
//! caches the name on its connection. Behind a transaction pooler that breaks twice over:
//! the next query may reach a server connection that never saw the statement (`prepared
//! statement "sqlx_s_1" does not exist`) or one where another client's `sqlx_s_1` already
//! exists — a different query under the same name. Turning the cache off
//! (`statement_cache_capacity(0)`) does not help: the statements are still named, just
//! never reused. And on RDS Proxy a named prepared statement *pins* the client to one
//! server connection for the rest of its session, which quietly takes away the
//! multiplexing that was the point of the proxy.
//!
//! [`ProxyPool`] and [`ProxyTransaction`] run the same `sqlx::query(…)` calls with:
//!
//! * **No named statements**: every query is prepared unnamed (`persistent(false)`), so
//!   no statement outlives the transaction that created it or pins a session.
//! * **Each query's prepare and execute in one transaction**: sqlx prepares (`Parse` …
//!   `Sync`) and executes (`Bind`, `Execute` … `Sync`) in two round trips, and a
//!   transaction pooler may hand each to a different server connection. A query with
//!   arguments on a [`ProxyPool`] therefore runs inside `BEGIN` … `COMMIT`; a query
//!   without arguments uses the simple protocol, one round trip, no transaction. Inside a
//!   [`ProxyTransaction`] the user's transaction already holds the server connection.
//! * **No session state**: nothing is `SET` on the connection. (sqlx's PostgreSQL driver
//!   sends `extra_float_digits` as a startup parameter: RDS Proxy accepts it; PgBouncer
//!   needs `ignore_startup_parameters = extra_float_digits`.)
//! * The connection-limit back-off of [`super::acquire`] on every acquire.
//!
//! What it costs: a warm query with arguments takes four round trips to the proxy
//! (`BEGIN`, prepare, execute, `COMMIT`) instead of one with sqlx's cached statements on a
//! direct connection; a query without arguments takes one. Inside a [`ProxyTransaction`]
//! each query takes two. The benchmarks measure it (`bench/`, "proxy mode").
//!
//! What it cannot do: `prepare` (an explicitly prepared, reusable statement is exactly
//! what a transaction pooler cannot keep) returns an error, and results are collected
//! before they are returned (the transaction must end before the connection goes back),
//! so `fetch` on a very large result holds it in memory.
//!
//! PgBouncer 1.21 and later can track protocol-level prepared statements itself
//! (`max_prepared_statements`); behind it a plain pool with sqlx's statement cache works
//! and keeps one round trip per warm query. RDS Proxy's rules for what pins a session
//! (session `SET`, `PREPARE`/`DEALLOCATE`, temporary tables, advisory locks, `LISTEN`)
//! apply to the SQL you send: avoid them in handlers.

use std::fmt;

use futures_util::{StreamExt, TryStreamExt, stream};
use sqlx::pool::PoolOptions;
use sqlx::{Database, Either, Execute, Executor};

use super::limit;
use super::{ConnectError, pool_options};
use crate::close::Close;

/// A pool for a database behind a transaction-pooling proxy; see the module docs. Use
/// `&ProxyPool` wherever sqlx takes an executor, as you would `&Pool`.
///
/// ```no_run
/// # async fn demo() -> Result<(), lambda_thaw::Error> {
/// use lambda_thaw::sqlx::proxy::ProxyPool;
/// let db = ProxyPool::<sqlx::Postgres>::connect(&std::env::var("DATABASE_URL")?).await?;
/// sqlx::query("UPDATE orders SET state = 'paid' WHERE id = $1")
///     .bind(42_i64)
///     .execute(&db)
///     .await?;
/// let mut transaction = db.begin().await?;
/// sqlx::query("INSERT INTO audit (order_id) VALUES ($1)").bind(42_i64).execute(&mut transaction).await?;
/// transaction.commit().await?;
/// # Ok(()) }
/// ```
pub struct ProxyPool<DB: Database> {
    pool: sqlx::Pool<DB>,
}

impl<DB: Database> ProxyPool<DB> {
    /// Connects with [`pool_options`] (the first connection now, in init), with the
    /// connection-limit back-off; the error names the database (password hidden).
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(pool_options(), url).await
    }

    /// [`ProxyPool::connect`] with your own options (start from [`pool_options`]).
    pub async fn connect_with(options: PoolOptions<DB>, url: &str) -> Result<Self, ConnectError> {
        Ok(Self {
            pool: super::connect_with(options, url).await?,
        })
    }

    /// Wraps a pool you built: any sqlx pool will do, as proxy mode never leaves a named
    /// statement on its connections.
    pub fn from_pool(pool: sqlx::Pool<DB>) -> Self {
        Self { pool }
    }

    /// The pool underneath. Queries run on it directly use sqlx's named statements: not
    /// through a transaction pooler.
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    /// Starts a transaction on one server connection, for several queries that must see
    /// each other or commit together.
    pub async fn begin(&self) -> Result<ProxyTransaction<DB>, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        ProxyTransaction::<DB>::start(limit::acquire(&self.pool).await?).await
    }
}

impl<DB: Database> Clone for ProxyPool<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for ProxyPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyPool")
            .field("pool", &self.pool)
            .finish()
    }
}

impl<DB: Database> Close for ProxyPool<DB> {
    async fn close(&self) {
        self.pool.close().await
    }
}

/// A transaction from [`ProxyPool::begin`]: use `&mut transaction` as an executor; end it
/// with [`commit`](Self::commit) or [`rollback`](Self::rollback). Dropped without either
/// (an early `?`), its connection is closed rather than returned to the pool, and the
/// server rolls the transaction back.
pub struct ProxyTransaction<DB: Database> {
    connection: sqlx::pool::PoolConnection<DB>,
    open: bool,
}

impl<DB: Database> ProxyTransaction<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens a transaction on `connection`.
    async fn start(mut connection: sqlx::pool::PoolConnection<DB>) -> Result<Self, sqlx::Error> {
        (&mut *connection).execute("BEGIN").await?;
        Ok(Self {
            connection,
            open: true,
        })
    }

    /// Commits the transaction.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.finish("COMMIT").await
    }

    /// Rolls the transaction back.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.finish("ROLLBACK").await
    }

    async fn finish(&mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        (&mut *self.connection).execute(statement).await?;
        self.open = false;
        Ok(())
    }
}

impl<DB: Database> Drop for ProxyTransaction<DB> {
    fn drop(&mut self) {
        if self.open {
            // An open transaction cannot be rolled back without awaiting; closing the
            // connection makes the server (or the proxy) roll it back, and no half-done
            // transaction goes back to the pool.
            self.connection.close_on_drop();
        }
    }
}

impl<DB: Database> fmt::Debug for ProxyTransaction<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyTransaction")
            .field("open", &self.open)
            .finish()
    }
}

/// A query with its arguments taken out, to be prepared unnamed.
struct Unnamed<DB: Database> {
    sql: sqlx::SqlStr,
    arguments: Option<DB::Arguments>,
}

impl<DB: Database> Unnamed<DB> {
    fn of<'q>(mut query: impl Execute<'q, DB>) -> Result<Self, sqlx::Error> {
        let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
        Ok(Self {
            sql: query.sql(),
            arguments,
        })
    }
}

impl<DB: Database> Execute<'_, DB> for Unnamed<DB> {
    fn sql(self) -> sqlx::SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, sqlx::error::BoxDynError> {
        Ok(self.arguments.take())
    }

    fn persistent(&self) -> bool {
        false
    }
}

type Step<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

/// Runs `query` on a connection from `pool`: one simple-protocol round trip without
/// arguments, or unnamed inside `BEGIN` … `COMMIT` with them.
async fn run_alone<DB: Database>(
    pool: &sqlx::Pool<DB>,
    query: Unnamed<DB>,
) -> Result<Vec<Step<DB>>, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut connection = limit::acquire(pool).await?;
    if query.arguments.is_none() {
        return (&mut *connection).fetch_many(query).try_collect().await;
    }
    let mut transaction = ProxyTransaction::<DB>::start(connection).await?;
    match (&mut *transaction.connection)
        .fetch_many(query)
        .try_collect()
        .await
    {
        Ok(steps) => {
            transaction.commit().await?;
            Ok(steps)
        }
        Err(error) => {
            // The connection goes back to the pool outside a transaction: a rollback that
            // fails leaves the transaction open, and dropped, its connection is closed.
            let _ = transaction.rollback().await;
            Err(error)
        }
    }
}

fn no_prepared_statements<'e, T: 'e>() -> futures_util::future::BoxFuture<'e, Result<T, sqlx::Error>>
{
    Box::pin(async {
        Err(sqlx::Error::Configuration(
            "a prepared statement cannot be kept behind a transaction-pooling proxy \
             (lambda_thaw::sqlx::proxy): run the query itself, which is prepared unnamed"
                .into(),
        ))
    })
}

impl<'p, DB: Database> Executor<'p> for &'p ProxyPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::stream::BoxStream<'e, Result<Step<DB>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let query = Unnamed::of(query);
        stream::once(async move { run_alone::<DB>(&self.pool, query?).await })
            .map_ok(|steps| stream::iter(steps.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::future::BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let query = Unnamed::of(query);
        Box::pin(async move {
            let steps = run_alone::<DB>(&self.pool, query?).await?;
            Ok(steps.into_iter().find_map(|step| step.right()))
        })
    }

    fn prepare_with<'e>(
        self,
        _sql: sqlx::SqlStr,
        _parameters: &'e [DB::TypeInfo],
    ) -> futures_util::future::BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        no_prepared_statements()
    }

    fn describe<'e>(
        self,
        _sql: sqlx::SqlStr,
    ) -> futures_util::future::BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        no_prepared_statements()
    }
}

impl<'t, DB: Database> Executor<'t> for &'t mut ProxyTransaction<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::stream::BoxStream<'e, Result<Step<DB>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        // The transaction holds the server connection: prepare and execute cannot be
        // split across two, so the rows can stream.
        match Unnamed::of(query) {
            Ok(query) => (&mut *self.connection).fetch_many(query),
            Err(error) => stream::once(async { Err(error) }).boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_util::future::BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        match Unnamed::of(query) {
            Ok(query) => (&mut *self.connection).fetch_optional(query),
            Err(error) => Box::pin(async { Err(error) }),
        }
    }

    fn prepare_with<'e>(
        self,
        _sql: sqlx::SqlStr,
        _parameters: &'e [DB::TypeInfo],
    ) -> futures_util::future::BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        't: 'e,
    {
        no_prepared_statements()
    }

    fn describe<'e>(
        self,
        _sql: sqlx::SqlStr,
    ) -> futures_util::future::BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, sqlx::Error>>
    where
        't: 'e,
    {
        no_prepared_statements()
    }
}
