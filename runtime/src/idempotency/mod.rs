//! Exactly one effect per event, on the function's own database (feature `idempotency`).
//!
//! Lambda delivers at least once: an asynchronous invocation that fails is retried, an SQS
//! message comes back after its visibility timeout, a client that timed out sends again,
//! and a handler whose answer was lost after it committed is run again. An
//! [`Idempotency`] store keeps one record per event key (the function's name and a hash of
//! the key, see [`Key`]) in a table of the function's own PostgreSQL, MySQL/MariaDB or
//! SQLite database, and answers a duplicate with the first delivery's response.
//!
//! * **Transactional mode** ([`Idempotency::transactional`], the point of it): the handler
//!   gets a standard [`sqlx::Transaction`] in which the key is already claimed; its writes,
//!   the record's completion and the stored response commit together, and only then is
//!   the caller answered. A crash anywhere leaves either nothing (the retry runs) or
//!   everything (the retry gets the stored response). A concurrent duplicate waits for the
//!   first one's outcome — at most until its own deadline, then
//!   [`IdempotencyInProgress`] — and an error or a deadline
//!   cancellation rolls the claim back with the writes, so the retry runs. Two round
//!   trips more than the same handler writing in a transaction of its own: the claim and
//!   the completion.
//! * **Around mode** ([`Idempotency::around`], Powertools' semantics, for effects outside
//!   the database — an HTTP call, a message sent): the claim is committed first, the
//!   handler runs, the record is completed. What it cannot promise: if the environment
//!   dies after the effect and before the completion, the claim ends at the invocation's
//!   deadline and the retry runs the effect again. Make the effect itself idempotent
//!   (pass the key downstream) where a second one would hurt.
//!
//! What the types need: the event (or the part the key is read from) is `Serialize`, since
//! the key and the payload's hash are computed from its JSON, and the response is
//! `Serialize + Deserialize`, since it is stored and given back to duplicates.
//!
//! On sqlx's `Any` (an `AnyPool`) the dialect is chosen from the URL at run time, so one
//! build serves every database the store speaks.
//!
//! `#[handler(init = setup, idempotent(key = "/order_id"))]` does the same from the macro:
//! the handler takes `tx: &mut sqlx::Transaction<'_, DB>` (the claim's transaction) beside
//! the state, which is the store or implements [`HasStore`].
//!
//! Every statement is plain SQL sent in one round trip, no prepared statement, no advisory
//! lock, no session state beyond the transaction (MySQL's lock wait is set for the
//! transaction and set back): it works through PgBouncer in transaction mode and RDS Proxy
//! as straight to the server.
//!
//! The table (create it from init with [`create_table`](Idempotency::create_table), or
//! run [`schema`](Idempotency::schema)'s statements in your migrations):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS lambda_thaw_idempotency (
//!     id VARCHAR(200) PRIMARY KEY,        -- function name '#' SHA-256 of the key, hex
//!     status VARCHAR(16) NOT NULL,        -- 'INPROGRESS' | 'COMPLETE'
//!     payload_hash CHAR(64) NOT NULL,     -- SHA-256 of the payload, hex
//!     response TEXT,                      -- the first response, JSON (MySQL: MEDIUMTEXT)
//!     in_progress_until BIGINT NOT NULL,  -- the claim's end: the invocation's deadline, ms
//!     expires_at BIGINT NOT NULL);        -- when the record stops counting, ms
//! CREATE INDEX IF NOT EXISTS lambda_thaw_idempotency_expires ON lambda_thaw_idempotency (expires_at);
//! ```
//!
//! Expired records are overwritten when their key comes again, and deleted a few at a
//! time after a response (at most once a minute per environment, in the deferred phase).
//!
//! ```no_run
//! use lambda_thaw::idempotency::{Idempotency, Key};
//! use lambda_thaw::{Error, LambdaEvent, handler};
//! use serde::{Deserialize, Serialize};
//! use sqlx::{PgPool, Postgres};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Order { order_id: String, total: i64 }
//! #[derive(Deserialize, Serialize)]
//! struct Receipt { order_id: String }
//!
//! async fn setup() -> Result<Idempotency<Postgres>, Error> {
//!     let pool: PgPool = lambda_thaw::sqlx::connect::<Postgres>(&std::env::var("DATABASE_URL")?).await?;
//!     let orders = Idempotency::new(pool)?;
//!     orders.create_table().await?;
//!     Ok(orders)
//! }
//!
//! #[handler(init = setup)]
//! async fn handle(event: LambdaEvent<Order>, orders: &Idempotency<Postgres>) -> Result<Receipt, Error> {
//!     let key = Key::from_pointers(&event.payload, &["/order_id"])?;
//!     orders
//!         .transactional(&key, async |tx| {
//!             sqlx::query("INSERT INTO orders (id, total) VALUES ($1, $2)")
//!                 .bind(&event.payload.order_id)
//!                 .bind(event.payload.total)
//!                 .execute(&mut **tx)
//!                 .await?;
//!             Ok::<_, Error>(Receipt { order_id: event.payload.order_id.clone() })
//!         })
//!         .await
//! }
//! # fn main() {}
//! ```

mod dialect;
pub(crate) mod key;
mod record;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, Executor, Row, Type};

pub use dialect::TABLE;
pub use key::Key;

use crate::lifecycle::defer::defer;
use crate::lifecycle::scope::{time_before_guard, time_left};
use crate::refused::{IdempotencyInProgress, IdempotencyPayloadMismatch};
use crate::sqlx::schema::create_schema;
use dialect::Dialect;
use record::{Decision, Existing};

/// The store: the function's pool, and how long records count. Cheap to clone; keep one
/// in the state.
#[derive(Debug)]
pub struct Idempotency<DB: Database> {
    pool: sqlx::Pool<DB>,
    dialect: Dialect,
    expires_after: Duration,
}

impl<DB: Database> Clone for Idempotency<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            dialect: self.dialect,
            expires_after: self.expires_after,
        }
    }
}

/// Closes the store's pool at shutdown: a state that is the store closes with it. A state
/// that holds one among other things ([`HasStore`]) closes it from its own
/// [`Close`](crate::Close):
///
/// ```no_run
/// use lambda_thaw::Close;
/// use lambda_thaw::idempotency::Idempotency;
/// use sqlx::Postgres;
///
/// struct Db { orders: Idempotency<Postgres> }
///
/// impl Close for Db {
///     async fn close(&self) {
///         self.orders.close().await
///     }
/// }
/// ```
impl<DB: Database> crate::close::Close for Idempotency<DB> {
    async fn close(&self) {
        self.pool.close().await
    }
}

/// A handler's future, boxed: what [`Idempotency::handler`] takes and gives.
type Boxed<'a, R, E> = std::pin::Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'a>>;

/// A claim outside an invocation (a test, a script) lasts this long, and waits this long
/// for another delivery's lock.
const OUTSIDE_AN_INVOCATION: Duration = Duration::from_secs(10);

/// How many expired records one clean-up deletes, and how often an environment runs one.
const CLEAN_UP_BATCH: u32 = 100;
const CLEAN_UP_EVERY_MS: i64 = 60_000;

/// Take-overs tried before a key contested by other deliveries is reported in progress.
const ATTEMPTS: usize = 3;

impl<DB: Database> Idempotency<DB> {
    /// A store on `pool` (PostgreSQL, MySQL/MariaDB or SQLite — or sqlx's `Any` on one of
    /// them, the dialect chosen from the URL at run time) whose records count for an hour.
    pub fn new(pool: sqlx::Pool<DB>) -> Result<Self, sqlx::Error> {
        let dialect = dialect_of(&pool)?;
        Ok(Self {
            pool,
            dialect,
            expires_after: Duration::from_secs(3600),
        })
    }

    /// Records count this long after their event was handled; a delivery after that runs
    /// again (default one hour — longer than SQS's and Lambda's own retries last).
    pub fn expires_after(mut self, expiry: Duration) -> Self {
        self.expires_after = expiry;
        self
    }

    /// The table's statements, for your migrations.
    pub fn schema(&self) -> &'static str {
        self.dialect.schema()
    }

    /// The pool the store writes to.
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    /// Now, the claim's end (the invocation's deadline) and the record's expiry, in ms.
    fn times(&self) -> (i64, i64, i64) {
        let now = now_ms();
        let claim = time_left().unwrap_or(OUTSIDE_AN_INVOCATION);
        let until = now + claim.as_millis() as i64;
        let expires = now + self.expires_after.as_millis() as i64;
        (now, until, expires.max(until))
    }
}

impl<DB> Idempotency<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    /// Makes sure the table and its index exist, for init. It first reads the catalogue
    /// (one query, no lock, no ownership needed): where both exist — every cold start but
    /// the first — that is all it does, so a role that does not own the table starts, and
    /// no cold start waits behind a claim another invocation holds (PostgreSQL's `CREATE
    /// INDEX IF NOT EXISTS` takes a lock that would). Only what is missing is created,
    /// safely under a burst of cold starts ([`create_schema`]); if that fails (the role may
    /// not create tables), the error names what is missing and the statements to run in
    /// your migrations ([`schema`](Self::schema)).
    pub async fn create_table(&self) -> Result<(), sqlx::Error> {
        let row = sqlx::raw_sql(AssertSqlSafe(self.dialect.present()))
            .fetch_one(&self.pool)
            .await?;
        let (table, index): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if table > 0 && index > 0 {
            return Ok(());
        }
        create_schema::<&sqlx::Pool<DB>>(&self.pool, self.schema())
            .await
            .map_err(|error| {
                let missing = if table > 0 {
                    format!("index `{TABLE}_expires`")
                } else {
                    format!("table `{TABLE}`")
                };
                sqlx::Error::Configuration(
                    format!(
                        "the idempotency store's {missing} is missing and this role could not \
                         create it ({error}); create it once in your migrations, as a role \
                         that may: {}",
                        self.schema()
                    )
                    .into(),
                )
            })
    }

    /// Runs `handler` once for `key`, inside a transaction that claims the key and commits
    /// the handler's writes with the record of its response (see the [module](self)).
    ///
    /// Returns the handler's response — or, for a duplicate, the first delivery's, the
    /// handler not run — or: the handler's error (its writes and the claim rolled back);
    /// [`IdempotencyInProgress`] when another delivery holds
    /// the key past this one's deadline; [`IdempotencyPayloadMismatch`]
    /// when the key was first used with another payload; the database's error.
    pub async fn transactional<R, E, F>(
        &self,
        key: &Key,
        handler: F,
    ) -> Result<R, lambda_runtime::Error>
    where
        F: AsyncFnOnce(&mut sqlx::Transaction<'_, DB>) -> Result<R, E>,
        E: Into<lambda_runtime::Error>,
        R: Serialize + DeserializeOwned,
    {
        let dialect = self.dialect;
        let mut connection = self.pool.acquire().await?;
        let outcome = async {
            // SQLite takes its writer's lock here, at BEGIN IMMEDIATE: a delivery in
            // progress shows as this statement waiting out its busy timeout.
            let mut tx = sqlx::Connection::begin_with(
                &mut *connection,
                AssertSqlSafe(dialect.begin(lock_wait())),
            )
            .await
            .map_err(|error| refusal_of(dialect, error, key))?;
            let (now, until, expires) = self.times();
            match claim::<DB>(dialect, &mut tx, key, now, until, expires).await {
                Ok(Claimed::Yes) => {}
                Ok(Claimed::No(answer)) => {
                    tx.rollback().await?;
                    return answer_of(answer, key);
                }
                Err(error) => return Err(refusal_of(dialect, error, key)),
            }
            let response = handler(&mut tx).await.map_err(Into::into)?;
            let text = serde_json::to_string(&response)?;
            sqlx::raw_sql(AssertSqlSafe(dialect.complete(key, &text, expires)))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(response)
        }
        .await;
        if let Some(reset) = dialect.after_transaction() {
            // A failure here leaves the session's lock wait shorter; the pool may drop the
            // connection for it, nothing more.
            let _ = sqlx::raw_sql(reset).execute(&mut *connection).await;
        }
        drop(connection);
        self.clean_up_now_and_then();
        outcome
    }

    /// Runs `handler` once for `key` with Powertools' semantics, for effects outside the
    /// database: the claim is committed first (ending at the invocation's deadline), then
    /// the handler runs, then the record is completed with its response; a handler that
    /// fails gives the claim up, so a retry runs. A duplicate gets the stored response, or
    /// [`IdempotencyInProgress`] while the claim lasts. If
    /// the environment dies between the effect and the completion, the retry after the
    /// deadline runs the effect again: see the [module](self).
    pub async fn around<R, E, F>(&self, key: &Key, handler: F) -> Result<R, lambda_runtime::Error>
    where
        F: AsyncFnOnce() -> Result<R, E>,
        E: Into<lambda_runtime::Error>,
        R: Serialize + DeserializeOwned,
    {
        let dialect = self.dialect;
        let (now, until, expires) = self.times();
        {
            let mut connection = self.pool.acquire().await?;
            match claim::<DB>(dialect, &mut connection, key, now, until, expires).await {
                Ok(Claimed::Yes) => {}
                Ok(Claimed::No(answer)) => return answer_of(answer, key),
                Err(error) => return Err(refusal_of(dialect, error, key)),
            }
        }
        match handler().await {
            Ok(response) => {
                let text = serde_json::to_string(&response)?;
                let (_, _, expires) = self.times();
                sqlx::raw_sql(AssertSqlSafe(dialect.complete(key, &text, expires)))
                    .execute(&self.pool)
                    .await?;
                self.clean_up_now_and_then();
                Ok(response)
            }
            Err(error) => {
                if let Err(release) = sqlx::raw_sql(AssertSqlSafe(dialect.release(key)))
                    .execute(&self.pool)
                    .await
                {
                    tracing::warn!(%release, key = key.id(), "could not give the idempotency claim up; it ends at the invocation's deadline");
                }
                Err(error.into())
            }
        }
    }

    /// Deletes up to `limit` expired records now. The store does this on its own, a
    /// hundred at a time at most once a minute per environment, after a response.
    pub async fn clean_up(&self, limit: u32) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(AssertSqlSafe(self.dialect.clean_up(now_ms(), limit)))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// For [`Builder`](crate::Builder): `handler` run as `#[handler(idempotent(key = …))]` runs
    /// it (name the driver: `Idempotency::<Postgres>::handler`) — the key read from the
    /// payload at `pointers`, the handler given the claim's transaction of the state's
    /// store, a duplicate answered with the first response.
    ///
    /// ```no_run
    /// use lambda_thaw::idempotency::Idempotency;
    /// use lambda_thaw::{Builder, Error, LambdaEvent};
    /// use sqlx::{Postgres, Transaction};
    ///
    /// async fn setup() -> Result<Idempotency<Postgres>, Error> {
    ///     let pool = lambda_thaw::sqlx::connect::<Postgres>(&std::env::var("DATABASE_URL")?).await?;
    ///     Ok(Idempotency::new(pool)?)
    /// }
    ///
    /// async fn handle(
    ///     event: LambdaEvent<serde_json::Value>,
    ///     tx: &mut Transaction<'_, Postgres>,
    ///     _orders: &'static Idempotency<Postgres>,
    /// ) -> Result<serde_json::Value, Error> {
    ///     sqlx::query("INSERT INTO orders (id) VALUES ($1)")
    ///         .bind(event.payload["order_id"].to_string())
    ///         .execute(&mut **tx)
    ///         .await?;
    ///     Ok(event.payload)
    /// }
    ///
    /// fn main() -> std::process::ExitCode {
    ///     Builder::new()
    ///         .init("setup", setup)
    ///         .run(Idempotency::<Postgres>::handler(&["/order_id"], |event, tx, orders| {
    ///             Box::pin(handle(event, tx, orders))
    ///         }))
    /// }
    /// ```
    pub fn handler<S, T, R, E, H>(
        pointers: &'static [&'static str],
        handler: H,
    ) -> impl Fn(
        lambda_runtime::LambdaEvent<T>,
        &'static S,
    ) -> Boxed<'static, R, lambda_runtime::Error>
    + Send
    + Sync
    + 'static
    where
        S: HasStore<DB> + Send + Sync + 'static,
        T: Serialize + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        E: Into<lambda_runtime::Error> + 'static,
        H: for<'t, 'c> Fn(
                lambda_runtime::LambdaEvent<T>,
                &'t mut sqlx::Transaction<'c, DB>,
                &'static S,
            ) -> Boxed<'t, R, E>
            + Send
            + Sync
            + 'static,
    {
        let handler = std::sync::Arc::new(handler);
        move |event, state| {
            let handler = handler.clone();
            Box::pin(async move {
                let key = Key::from_pointers(&event.payload, pointers)?;
                state
                    .idempotency()
                    .transactional(&key, async move |tx| handler(event, tx, state).await)
                    .await
            })
        }
    }

    /// After a response, in the deferred phase: a clean-up, if this environment ran none
    /// for a minute. Outside an invocation nothing is queued.
    fn clean_up_now_and_then(&self) {
        static LAST: AtomicI64 = AtomicI64::new(0);
        if !clean_up_due(&LAST, now_ms()) {
            return;
        }
        let store = self.clone();
        let _ = defer(async move { store.clean_up(CLEAN_UP_BATCH).await });
    }
}

/// A state that holds a store, for `#[handler(idempotent(key = "/order_id"))]`: the store
/// itself (`init` returns an `Idempotency<Postgres>`), or a state of yours that says which
/// of its fields is the store.
///
/// ```no_run
/// use lambda_thaw::idempotency::{HasStore, Idempotency};
/// use sqlx::Postgres;
///
/// struct Db { orders: Idempotency<Postgres>, prices: std::collections::HashMap<String, i64> }
///
/// impl HasStore<Postgres> for Db {
///     fn idempotency(&self) -> &Idempotency<Postgres> {
///         &self.orders
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "the state `{Self}` holds no idempotency store for `idempotent(key = …)`",
    label = "the state `init` builds",
    note = "return the store from `init` (`Idempotency::new(pool)?`), or implement `lambda_thaw::idempotency::HasStore<YourDatabase>` for `{Self}`, returning its store"
)]
pub trait HasStore<DB: Database> {
    /// The store.
    fn idempotency(&self) -> &Idempotency<DB>;
}

impl<DB: Database> HasStore<DB> for Idempotency<DB> {
    fn idempotency(&self) -> &Idempotency<DB> {
        self
    }
}

/// Whether this delivery holds the key, and if not, what it answers.
enum Claimed {
    Yes,
    No(Decision),
}

/// Claims `key` on `connection` (in transactional mode, inside the transaction): a new
/// record, or one that expired or whose claimant died; else what the record says.
async fn claim<DB>(
    dialect: Dialect,
    connection: &mut DB::Connection,
    key: &Key,
    now: i64,
    until: i64,
    expires: i64,
) -> Result<Claimed, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    for _ in 0..ATTEMPTS {
        let inserted = sqlx::raw_sql(AssertSqlSafe(dialect.claim(key, until, expires)))
            .fetch_optional(&mut *connection)
            .await?;
        if one_row_changed(dialect, inserted)? {
            return Ok(Claimed::Yes);
        }
        let Some(existing) = lookup::<DB>(dialect, connection, key).await? else {
            // Deleted (expired and cleaned up) between the two statements: claim again.
            continue;
        };
        match existing.decide(&key.payload_hash, now) {
            Decision::TakeOver => {
                let taken =
                    sqlx::raw_sql(AssertSqlSafe(dialect.take_over(key, now, until, expires)))
                        .fetch_optional(&mut *connection)
                        .await?;
                if one_row_changed(dialect, taken)? {
                    return Ok(Claimed::Yes);
                }
                // Another delivery took it over first: look again.
            }
            answer => return Ok(Claimed::No(answer)),
        }
    }
    Ok(Claimed::No(Decision::InProgress))
}

/// Whether a claim or a take-over changed its row, from what it returned: a row (`RETURNING`)
/// or none; on MySQL, which has no `RETURNING`, the `ROW_COUNT()` it selected.
fn one_row_changed<R: Row>(dialect: Dialect, returned: Option<R>) -> Result<bool, sqlx::Error>
where
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    match (dialect, returned) {
        (Dialect::MySql, Some(row)) => Ok(row.try_get::<i64, _>(0)? == 1),
        (_, returned) => Ok(returned.is_some()),
    }
}

async fn lookup<DB>(
    dialect: Dialect,
    connection: &mut DB::Connection,
    key: &Key,
) -> Result<Option<Existing>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::raw_sql(AssertSqlSafe(dialect.lookup(key)))
        .fetch_optional(&mut *connection)
        .await?;
    row.map(|row| {
        Ok(Existing {
            status: row.try_get(0)?,
            payload_hash: row.try_get(1)?,
            response: row.try_get(2)?,
            in_progress_until: row.try_get(3)?,
            expires_at: row.try_get(4)?,
        })
    })
    .transpose()
}

/// A duplicate's answer: the stored response, or the refusal.
fn answer_of<R: DeserializeOwned>(
    decision: Decision,
    key: &Key,
) -> Result<R, lambda_runtime::Error> {
    match decision {
        Decision::Replay(response) => Ok(serde_json::from_str(&response)?),
        Decision::PayloadMismatch => Err(IdempotencyPayloadMismatch {
            key: key.id.clone(),
        }
        .into()),
        Decision::InProgress | Decision::TakeOver => Err(IdempotencyInProgress {
            key: key.id.clone(),
        }
        .into()),
    }
}

/// A claim that failed: another delivery's lock waited for too long is that delivery in
/// progress; anything else is the database's error.
fn refusal_of(dialect: Dialect, error: sqlx::Error, key: &Key) -> lambda_runtime::Error {
    if dialect.is_busy(&error) {
        IdempotencyInProgress {
            key: key.id.clone(),
        }
        .into()
    } else {
        error.into()
    }
}

fn dialect_of<DB: Database>(pool: &sqlx::Pool<DB>) -> Result<Dialect, sqlx::Error> {
    if let Some(dialect) = Dialect::of(DB::NAME) {
        return Ok(dialect);
    }
    // sqlx's `Any`: the database the URL names, chosen at run time — one build serves
    // PostgreSQL, MySQL/MariaDB and SQLite (every statement is plain SQL without
    // arguments, so nothing depends on the driver's types beyond `BIGINT` and text).
    let url = sqlx::ConnectOptions::to_url_lossy(&*pool.connect_options());
    Dialect::of_scheme(url.scheme()).ok_or_else(|| {
        sqlx::Error::Configuration(
            format!(
                "lambda_thaw::idempotency speaks PostgreSQL, MySQL/MariaDB and SQLite, not `{}` \
                 (URL scheme `{}`): use one of their pools (sqlx::PgPool, MySqlPool, \
                 SqlitePool), or sqlx's AnyPool on a postgres://, mysql:// or sqlite: URL",
                DB::NAME,
                url.scheme()
            )
            .into(),
        )
    })
}

/// How long a claim waits for another delivery's lock: up to shortly before the deadline
/// guard would cancel the handler (at the function's own `deadline_margin`), so the caller
/// gets
/// [`IdempotencyInProgress`] instead of a timeout.
fn lock_wait() -> Duration {
    match time_before_guard() {
        Some(left) => left.saturating_sub(Duration::from_millis(100)),
        None => OUTSIDE_AN_INVOCATION,
    }
}

/// Whether a clean-up is due at `now_ms`, `last` holding when the last one ran: a minute
/// later at the earliest, and only one of concurrent callers takes it (and records `now_ms`).
fn clean_up_due(last: &AtomicI64, now_ms: i64) -> bool {
    let previous = last.load(Ordering::Relaxed);
    now_ms - previous >= CLEAN_UP_EVERY_MS
        && last
            .compare_exchange(previous, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
