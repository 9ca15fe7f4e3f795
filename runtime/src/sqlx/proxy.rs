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

/// Proxy mode's own rules on SQLite, through sqlx as a user runs it: the queries and their
/// rows, the transactions and what each ending leaves on the connection. What only a
/// transaction pooler shows (statements never named) is tested through PgBouncer
/// (`tests/tests/databases/proxy.rs`).
#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sqlx::{AssertSqlSafe, Executor, SqlSafeStr, Sqlite};

    use super::ProxyPool;
    use crate::close::Close;

    /// A file of its own, removed when dropped.
    struct Database(std::path::PathBuf);

    impl Database {
        fn new(name: &str) -> Self {
            Self(std::env::temp_dir().join(format!("lt-proxy-{name}-{}.db", std::process::id())))
        }

        /// One connection, as an environment has: whatever a query leaves on it, the
        /// next one finds.
        async fn proxy(&self) -> ProxyPool<Sqlite> {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect(&format!("sqlite://{}?mode=rwc", self.0.display()))
                .await
                .unwrap();
            let proxy = ProxyPool::from_pool(pool);
            (&proxy)
                .execute(
                    "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
                )
                .await
                .unwrap();
            proxy
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Waits until the pool's connection is back in it or closed: sqlx does either on a
    /// task of its own once the connection is dropped.
    async fn settle(proxy: &ProxyPool<Sqlite>) {
        let started = Instant::now();
        while proxy.pool().size() != proxy.pool().num_idle() as u32
            && started.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn names(proxy: &ProxyPool<Sqlite>) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM items ORDER BY id")
            .fetch_all(proxy)
            .await
            .unwrap()
    }

    async fn insert(
        executor: impl Executor<'_, Database = Sqlite>,
        id: i64,
        name: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO items (id, name) VALUES (?, ?)")
            .bind(id)
            .bind(name)
            .execute(executor)
            .await
            .map(drop)
    }

    #[tokio::test]
    async fn queries_with_their_arguments_return_their_rows() {
        let database = Database::new("queries");
        let proxy = database.proxy().await;
        insert(&proxy, 1, "first").await.unwrap();
        insert(&proxy, 2, "second").await.unwrap();
        assert_eq!(names(&proxy).await, ["first", "second"]);
        let by_id = |id: i64| {
            sqlx::query_scalar::<_, String>("SELECT name FROM items WHERE id = ?")
                .bind(id)
                .fetch_optional(&proxy)
        };
        assert_eq!(by_id(2).await.unwrap().as_deref(), Some("second"));
        assert_eq!(by_id(3).await.unwrap(), None);
    }

    /// A query that fails inside its own transaction rolls it back: the connection goes
    /// back to the pool outside a transaction, and the next query runs as usual.
    #[tokio::test]
    async fn a_query_that_fails_leaves_no_transaction_on_the_connection() {
        let database = Database::new("fails");
        let proxy = database.proxy().await;
        insert(&proxy, 1, "first").await.unwrap();
        let duplicate = insert(&proxy, 1, "again")
            .await
            .expect_err("a duplicate key");
        assert!(duplicate.to_string().contains("UNIQUE"), "{duplicate}");
        insert(&proxy, 2, "second").await.unwrap();
        assert_eq!(names(&proxy).await, ["first", "second"]);
    }

    /// A transaction's writes are seen inside it, kept by `commit`, undone by `rollback`
    /// (which keeps the connection for the next invocation), and undone when it is dropped
    /// half-way (which closes the connection rather than hand on an open transaction).
    #[tokio::test]
    async fn a_transaction_commits_rolls_back_or_dropped_leaves_nothing_behind() {
        let database = Database::new("transactions");
        let proxy = database.proxy().await;

        let mut kept = proxy.begin().await.unwrap();
        insert(&mut kept, 1, "kept").await.unwrap();
        let seen: Option<String> = sqlx::query_scalar("SELECT name FROM items WHERE id = ?")
            .bind(1_i64)
            .fetch_optional(&mut kept)
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("kept"), "its own write, inside it");
        kept.commit().await.unwrap();

        let mut undone = proxy.begin().await.unwrap();
        insert(&mut undone, 2, "rolled back").await.unwrap();
        undone.rollback().await.unwrap();
        settle(&proxy).await;
        assert_eq!(proxy.pool().size(), 1, "the connection kept");

        let mut dropped = proxy.begin().await.unwrap();
        insert(&mut dropped, 3, "dropped").await.unwrap();
        assert_eq!(format!("{dropped:?}"), "ProxyTransaction { open: true }");
        drop(dropped);
        settle(&proxy).await;
        assert_eq!(proxy.pool().size(), 0, "the connection closed, not pooled");

        insert(&proxy, 4, "after").await.unwrap();
        assert_eq!(names(&proxy).await, ["kept", "after"]);
    }

    /// An explicitly prepared statement is what a transaction pooler cannot keep: asking
    /// for one, on the pool or in a transaction, says so.
    #[tokio::test]
    async fn preparing_or_describing_a_statement_is_refused_with_the_reason() {
        let database = Database::new("prepare");
        let proxy = database.proxy().await;
        let sql = || AssertSqlSafe("SELECT name FROM items").into_sql_str();
        let mut transaction = proxy.begin().await.unwrap();
        let refusals = [
            (&proxy).prepare(sql()).await.map(drop),
            (&proxy).describe(sql()).await.map(drop),
            (&mut transaction).prepare(sql()).await.map(drop),
            (&mut transaction).describe(sql()).await.map(drop),
        ];
        for refusal in refusals {
            let error = refusal.expect_err("refused");
            assert!(
                error.to_string().contains("transaction-pooling proxy"),
                "{error}"
            );
        }
        transaction.rollback().await.unwrap();
    }

    /// Closing a proxy pool (as the shutdown hook does) closes the pool its clones share.
    #[tokio::test]
    async fn closing_a_clone_closes_the_shared_pool() {
        let database = Database::new("close");
        let proxy = database.proxy().await;
        assert!(format!("{proxy:?}").starts_with("ProxyPool { pool: Pool"));
        Close::close(&proxy.clone()).await;
        assert!(proxy.pool().is_closed());
    }
}
