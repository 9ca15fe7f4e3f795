//! Creating the schema from init, when many environments cold-start at once.
//!
//! A fresh deploy under load starts tens of environments within milliseconds, and each
//! init that runs `CREATE TABLE IF NOT EXISTS` races the others. PostgreSQL does not
//! serialise that: every creator inserts into its catalog, and all but the first fail with
//! `duplicate key value violates unique constraint "pg_type_typname_nsp_index"` (or
//! `relation/type "…" already exists`) instead of finding the table — measured with the
//! `orders` example: 20 environments on an empty database, 1–2 failed inits in 8 of 15
//! runs. Run again, the statement finds the table the winner committed and does nothing.

use sqlx::{Executor, SqlSafeStr};

/// How many times a statement that lost the race is run again. One is enough for a
/// statement (the winner has committed when the loser is told); a script of several
/// statements may lose on each.
const ATTEMPTS: usize = 5;

/// Runs idempotent schema statements (`CREATE TABLE IF NOT EXISTS …`, `CREATE INDEX IF
/// NOT EXISTS …`; several may be given, separated by `;`) on `pool` (a `&Pool`), running them again
/// when PostgreSQL reports that a concurrent init created the same object first. Any other
/// error is returned as it is, and so is every error from MySQL, MariaDB and SQLite (20
/// `orders` environments starting at once on MariaDB did not race).
///
/// ```no_run
/// # async fn setup(pool: &sqlx::PgPool) -> Result<(), lambda_thaw::Error> {
/// lambda_thaw::sqlx::create_schema(
///     pool,
///     "CREATE TABLE IF NOT EXISTS orders (id VARCHAR(64) PRIMARY KEY, total BIGINT NOT NULL)",
/// )
/// .await?;
/// # Ok(()) }
/// ```
pub async fn create_schema<'p, E>(pool: E, statements: impl SqlSafeStr) -> Result<(), sqlx::Error>
where
    // A pool is `Copy` as `&Pool`: each attempt runs on it again.
    E: Executor<'p> + Copy,
{
    let statements = statements.into_sql_str();
    let mut attempt = 1;
    loop {
        match sqlx::raw_sql(statements.clone()).execute(pool).await {
            Ok(_) => return Ok(()),
            Err(error) if attempt < ATTEMPTS && created_concurrently(&error) => {
                tracing::info!(%error, attempt, "another environment created the schema first; running it again");
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether PostgreSQL refused a `CREATE … IF NOT EXISTS` because a concurrent transaction
/// created the object first: a unique violation (`23505`) on one of its catalog's indexes
/// (`pg_…`), `duplicate_table` (`42P07`) or `duplicate_object` (`42710`).
fn created_concurrently(error: &sqlx::Error) -> bool {
    let Some(database) = error.as_database_error() else {
        return false;
    };
    match database.code().as_deref() {
        Some("42P07" | "42710") => true,
        Some("23505") => database.constraint().is_some_and(|c| c.starts_with("pg_")),
        _ => false,
    }
}
