//! What lambda-thaw answers in place of the handler when the idempotency store refuses to
//! run it (`idempotency/`). Defined here, below `diagnose`, so that each is reported to
//! Lambda under an `errorType` of its own.
// Public through the crate root with the `idempotency` feature only.
#![cfg_attr(not(feature = "idempotency"), allow(unreachable_pub))]

use std::fmt;

/// Another delivery of the same event is being handled now (or was, by an environment
/// that died before its claim expired): `errorType` `lambda_thaw::IdempotencyInProgress`.
/// Retry later — Lambda's asynchronous retries and an SQS redelivery do so on their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyInProgress {
    /// The record's key (function name and hash).
    pub key: String,
}

impl fmt::Display for IdempotencyInProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another delivery of this event ({}) is being handled now; retry later",
            self.key
        )
    }
}

impl std::error::Error for IdempotencyInProgress {}

/// The same idempotency key came with another payload: `errorType`
/// `lambda_thaw::IdempotencyPayloadMismatch`. Two different events share a key — the key's
/// JSON pointers leave out what tells them apart — or a client reused a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyPayloadMismatch {
    /// The record's key (function name and hash).
    pub key: String,
}

impl fmt::Display for IdempotencyPayloadMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the idempotency key {} was first used with another payload; two different events share it (choose key pointers that tell them apart) or a client reused it",
            self.key
        )
    }
}

impl std::error::Error for IdempotencyPayloadMismatch {}

/// The event has no value where the idempotency key's JSON pointer points: `errorType`
/// `lambda_thaw::IdempotencyKeyMissing`. Nothing ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKeyMissing {
    /// The JSON pointer that found nothing (or `null`).
    pub pointer: String,
}

impl fmt::Display for IdempotencyKeyMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the event has no idempotency key at `{}` (missing or null); nothing was run",
            self.pointer
        )
    }
}

impl std::error::Error for IdempotencyKeyMissing {}
