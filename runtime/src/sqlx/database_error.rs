//! For tests: a database's error as its driver reports it — the code sqlx gives as
//! `code()` and the server's own words — without a server to refuse.

use std::borrow::Cow;

#[derive(Debug)]
struct Refused {
    code: &'static str,
    message: &'static str,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Refused {}

impl sqlx::error::DatabaseError for Refused {
    fn message(&self) -> &str {
        self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.code))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

/// The server's refusal `message` with `code`, as `sqlx::Error::Database`.
pub(crate) fn refused(code: &'static str, message: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(Refused { code, message }))
}
