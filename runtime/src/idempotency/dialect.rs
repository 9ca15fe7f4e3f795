//! The store's statements for each database. Every value is a literal the code made —
//! a hex hash, a number, the function's name in the characters Lambda allows, the
//! response as a hex string — so each statement is plain SQL sent in one round trip
//! with no prepared statement: the same through PgBouncer in transaction mode or RDS
//! Proxy as straight to the server.

use std::time::Duration;

use super::key::{Key, hex};
use super::record::{COMPLETE, IN_PROGRESS};

/// The table's name.
pub const TABLE: &str = "lambda_thaw_idempotency";

/// The databases the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    /// The dialect of sqlx's driver `name` (`Database::NAME`); `None` for another one
    /// (sqlx's `Any` among them: its URL tells, [`Dialect::of_scheme`]).
    pub(crate) fn of(name: &str) -> Option<Self> {
        match name {
            "PostgreSQL" => Some(Self::Postgres),
            "MySQL" => Some(Self::MySql),
            "SQLite" => Some(Self::Sqlite),
            _ => None,
        }
    }

    /// The dialect of a connection URL's scheme (for sqlx's `Any`); `None` for another.
    pub(crate) fn of_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            "sqlite" => Some(Self::Sqlite),
            _ => None,
        }
    }

    /// The table, created if missing.
    pub(crate) fn schema(self) -> &'static str {
        match self {
            Self::Postgres => {
                "CREATE TABLE IF NOT EXISTS lambda_thaw_idempotency (\
                 id VARCHAR(200) PRIMARY KEY, status VARCHAR(16) NOT NULL, \
                 payload_hash CHAR(64) NOT NULL, response TEXT, \
                 in_progress_until BIGINT NOT NULL, expires_at BIGINT NOT NULL); \
                 CREATE INDEX IF NOT EXISTS lambda_thaw_idempotency_expires \
                 ON lambda_thaw_idempotency (expires_at)"
            }
            // MEDIUMTEXT: a response may be Lambda's whole 6 MB.
            Self::MySql => {
                "CREATE TABLE IF NOT EXISTS lambda_thaw_idempotency (\
                 id VARCHAR(200) PRIMARY KEY, status VARCHAR(16) NOT NULL, \
                 payload_hash CHAR(64) NOT NULL, response MEDIUMTEXT, \
                 in_progress_until BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
                 INDEX lambda_thaw_idempotency_expires (expires_at))"
            }
            Self::Sqlite => {
                "CREATE TABLE IF NOT EXISTS lambda_thaw_idempotency (\
                 id TEXT PRIMARY KEY, status TEXT NOT NULL, payload_hash TEXT NOT NULL, \
                 response TEXT, in_progress_until INTEGER NOT NULL, \
                 expires_at INTEGER NOT NULL); \
                 CREATE INDEX IF NOT EXISTS lambda_thaw_idempotency_expires \
                 ON lambda_thaw_idempotency (expires_at)"
            }
        }
    }

    /// One row of two counts, read from the catalogue without a lock: whether the table
    /// exists, and whether its index does (each 0 or 1). A cold start that finds both
    /// needs no DDL — which on PostgreSQL takes a lock that waits behind any open claim,
    /// and needs the table's owner.
    pub(crate) fn present(self) -> &'static str {
        match self {
            Self::Postgres => {
                "SELECT CAST(CASE WHEN to_regclass('lambda_thaw_idempotency') IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                 CAST(CASE WHEN to_regclass('lambda_thaw_idempotency_expires') IS NULL THEN 0 ELSE 1 END AS BIGINT)"
            }
            Self::MySql => {
                "SELECT (SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'lambda_thaw_idempotency'), \
                 (SELECT CAST(COUNT(DISTINCT INDEX_NAME) AS SIGNED) FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'lambda_thaw_idempotency' \
                 AND INDEX_NAME = 'lambda_thaw_idempotency_expires')"
            }
            Self::Sqlite => {
                "SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'lambda_thaw_idempotency'), \
                 (SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'lambda_thaw_idempotency_expires')"
            }
        }
    }

    /// Opens the transaction of transactional mode, with waits for a lock held by another
    /// delivery bounded by `lock_wait`: PostgreSQL's `lock_timeout` for this transaction
    /// alone; MySQL's `innodb_lock_wait_timeout` for the session (whole seconds) and
    /// SQLite's `busy_timeout` for the connection (it takes its one writer's lock at once,
    /// `IMMEDIATE`), both set back by [`Dialect::after_transaction`].
    pub(crate) fn begin(self, lock_wait: Duration) -> String {
        match self {
            Self::Postgres => format!(
                "BEGIN; SET LOCAL lock_timeout = '{}ms'",
                lock_wait.as_millis().max(1)
            ),
            // Whole seconds, rounded down: less than one left is 0, which MariaDB takes as
            // "do not wait" and MySQL raises to its least, 1 s.
            Self::MySql => format!(
                "SET SESSION innodb_lock_wait_timeout = {}; START TRANSACTION",
                lock_wait.as_secs()
            ),
            Self::Sqlite => format!(
                "PRAGMA busy_timeout = {}; BEGIN IMMEDIATE",
                lock_wait.as_millis().max(1)
            ),
        }
    }

    /// What puts the session back after the transaction: MySQL's lock wait to the
    /// server's default, SQLite's busy timeout to sqlx's (5 s).
    pub(crate) fn after_transaction(self) -> Option<&'static str> {
        match self {
            Self::MySql => Some("SET SESSION innodb_lock_wait_timeout = DEFAULT"),
            Self::Sqlite => Some("PRAGMA busy_timeout = 5000"),
            Self::Postgres => None,
        }
    }

    /// Claims `key` if no record holds it, returning a row when it did (MySQL: the row
    /// count, 1 or 0). A claim another transaction has not committed yet makes this wait
    /// for it (the row's lock), so a concurrent duplicate sees the first one's outcome.
    pub(crate) fn claim(self, key: &Key, until_ms: i64, expires_ms: i64) -> String {
        let values = format!(
            "('{}', '{IN_PROGRESS}', '{}', NULL, {until_ms}, {expires_ms})",
            key.id, key.payload_hash
        );
        let columns = "(id, status, payload_hash, response, in_progress_until, expires_at)";
        match self {
            Self::Postgres => format!(
                "INSERT INTO {TABLE} {columns} VALUES {values} ON CONFLICT (id) DO NOTHING RETURNING 1"
            ),
            Self::MySql => format!(
                "INSERT IGNORE INTO {TABLE} {columns} VALUES {values}; SELECT CAST(ROW_COUNT() AS SIGNED)"
            ),
            Self::Sqlite => {
                format!("INSERT OR IGNORE INTO {TABLE} {columns} VALUES {values} RETURNING 1")
            }
        }
    }

    /// The record under `key`.
    ///
    /// The hash is read as `TEXT`: PostgreSQL's `CHAR(64)` is a type (`bpchar`) that sqlx's
    /// `Any` driver cannot decode, and the store also runs on `Any`.
    pub(crate) fn lookup(self, key: &Key) -> String {
        format!(
            "SELECT status, CAST(payload_hash AS {}), response, in_progress_until, expires_at FROM {TABLE} WHERE id = '{}'",
            self.text_type(),
            key.id
        )
    }

    /// The name of the text type in a `CAST` (MySQL's `CAST` knows `CHAR`, not `TEXT`).
    fn text_type(self) -> &'static str {
        match self {
            Self::MySql => "CHAR",
            Self::Postgres | Self::Sqlite => "TEXT",
        }
    }

    /// Claims anew a record that expired, or whose claim ended with nobody completing it
    /// — only if it still is so at `now_ms` (another delivery may have taken it first);
    /// returns as [`Dialect::claim`] does.
    pub(crate) fn take_over(
        self,
        key: &Key,
        now_ms: i64,
        until_ms: i64,
        expires_ms: i64,
    ) -> String {
        let update = format!(
            "UPDATE {TABLE} SET status = '{IN_PROGRESS}', payload_hash = '{}', response = NULL, \
             in_progress_until = {until_ms}, expires_at = {expires_ms} \
             WHERE id = '{}' AND (expires_at <= {now_ms} OR (status = '{IN_PROGRESS}' AND in_progress_until <= {now_ms}))",
            key.payload_hash, key.id
        );
        match self {
            Self::MySql => format!("{update}; SELECT CAST(ROW_COUNT() AS SIGNED)"),
            Self::Postgres | Self::Sqlite => format!("{update} RETURNING 1"),
        }
    }

    /// Completes the record with the handler's response.
    pub(crate) fn complete(self, key: &Key, response: &str, expires_ms: i64) -> String {
        format!(
            "UPDATE {TABLE} SET status = '{COMPLETE}', response = {}, expires_at = {expires_ms} WHERE id = '{}'",
            self.text(response),
            key.id
        )
    }

    /// Gives up a claim of around mode whose handler failed, so that a retry runs.
    pub(crate) fn release(self, key: &Key) -> String {
        format!(
            "DELETE FROM {TABLE} WHERE id = '{}' AND status = '{IN_PROGRESS}' AND payload_hash = '{}'",
            key.id, key.payload_hash
        )
    }

    /// Deletes up to `limit` records expired at `now_ms`.
    pub(crate) fn clean_up(self, now_ms: i64, limit: u32) -> String {
        match self {
            Self::MySql => {
                format!("DELETE FROM {TABLE} WHERE expires_at <= {now_ms} LIMIT {limit}")
            }
            Self::Postgres | Self::Sqlite => format!(
                "DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE expires_at <= {now_ms} LIMIT {limit})"
            ),
        }
    }

    /// `text` as a literal: its UTF-8 bytes in hex, decoded by the server — no quoting or
    /// escaping rule of any server or `sql_mode` can change what is stored.
    fn text(self, text: &str) -> String {
        let hex = hex(text.as_bytes());
        match self {
            Self::Postgres => format!("convert_from(decode('{hex}', 'hex'), 'UTF8')"),
            Self::MySql => format!("CONVERT(X'{hex}' USING utf8mb4)"),
            Self::Sqlite => format!("CAST(X'{hex}' AS TEXT)"),
        }
    }

    /// Whether `error` says another delivery's lock was waited for too long (or, on
    /// MySQL, a deadlock between two deliveries): the other one is in progress.
    pub(crate) fn is_busy(self, error: &sqlx::Error) -> bool {
        let Some(database) = error.as_database_error() else {
            return false;
        };
        let code = database.code();
        match self {
            // lock_not_available, deadlock_detected
            Self::Postgres => matches!(code.as_deref(), Some("55P03" | "40P01")),
            // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK (SQLSTATE HY000 / 40001); sqlx's
            // MySQL error gives the number as the code.
            Self::MySql => {
                matches!(code.as_deref(), Some("1205" | "1213" | "40001"))
                    || database.message().contains("Lock wait timeout exceeded")
            }
            // SQLITE_BUSY, SQLITE_LOCKED and their extended codes
            Self::Sqlite => matches!(code.as_deref(), Some("5" | "6" | "261" | "262" | "517")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlx::database_error::refused;

    #[test]
    fn the_response_goes_in_as_hex_so_no_quote_can_end_the_literal() {
        let tricky = "it's a \\'; DROP TABLE x; -- ü";
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
            let literal = dialect.text(tricky);
            assert!(!literal.contains("DROP"), "{literal}");
            assert!(literal.contains(&hex(tricky.as_bytes())));
        }
    }

    #[test]
    fn each_driver_has_its_dialect_and_any_has_none() {
        assert_eq!(Dialect::of("PostgreSQL"), Some(Dialect::Postgres));
        assert_eq!(Dialect::of("MySQL"), Some(Dialect::MySql));
        assert_eq!(Dialect::of("SQLite"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::of("Any"), None);
        assert_eq!(Dialect::of_scheme("postgresql"), Some(Dialect::Postgres));
        assert_eq!(Dialect::of_scheme("mariadb"), Some(Dialect::MySql));
        assert_eq!(Dialect::of_scheme("sqlite"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::of_scheme("mssql"), None);
    }

    /// Another delivery's lock waited for too long (or a deadlock between two) is "in
    /// progress", in each database's own code — and nothing else is.
    #[test]
    fn each_database_s_lock_wait_and_deadlock_are_busy_and_nothing_else() {
        let busy = [
            (
                Dialect::Postgres,
                refused("55P03", "canceling statement due to lock timeout"),
            ),
            (Dialect::Postgres, refused("40P01", "deadlock detected")),
            (
                Dialect::MySql,
                refused("1205", "Lock wait timeout exceeded"),
            ),
            (Dialect::MySql, refused("1213", "Deadlock found")),
            (Dialect::MySql, refused("40001", "Deadlock found")),
            // MariaDB through some proxies: the words without the number.
            (
                Dialect::MySql,
                refused(
                    "HY000",
                    "Lock wait timeout exceeded; try restarting transaction",
                ),
            ),
            (Dialect::Sqlite, refused("5", "database is locked")),
            (Dialect::Sqlite, refused("517", "database is locked")),
        ];
        for (dialect, error) in &busy {
            assert!(dialect.is_busy(error), "{dialect:?} {error}");
        }
        let not_busy = [
            (Dialect::Postgres, refused("23505", "duplicate key")),
            (Dialect::Postgres, refused("1205", "a MySQL code")),
            (Dialect::MySql, refused("1062", "Duplicate entry")),
            (Dialect::MySql, refused("55P03", "a PostgreSQL code")),
            (Dialect::Sqlite, refused("19", "constraint failed")),
        ];
        for (dialect, error) in &not_busy {
            assert!(!dialect.is_busy(error), "{dialect:?} {error}");
        }
        assert!(!Dialect::Postgres.is_busy(&sqlx::Error::PoolTimedOut));
    }

    #[test]
    fn the_lock_wait_is_bounded_in_each_database_s_unit() {
        let wait = Duration::from_millis(2_750);
        assert_eq!(
            Dialect::Postgres.begin(wait),
            "BEGIN; SET LOCAL lock_timeout = '2750ms'"
        );
        assert!(
            Dialect::MySql
                .begin(wait)
                .starts_with("SET SESSION innodb_lock_wait_timeout = 2;")
        );
        // Never 0 on PostgreSQL, where it would mean "no limit"; on MySQL and MariaDB,
        // under a second left is 0: no wait.
        assert!(Dialect::Postgres.begin(Duration::ZERO).contains("'1ms'"));
        assert!(
            Dialect::MySql
                .begin(Duration::from_millis(900))
                .contains("= 0;")
        );
    }
}
