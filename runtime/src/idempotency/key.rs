//! An event's idempotency key: which event this is (its key, hashed, under the function's
//! name) and what it carried (its payload, hashed), so a duplicate is recognised and a key
//! reused with another payload is refused.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::refused::IdempotencyKeyMissing;

/// The key of one event (or one batch record): the record's id in the store and the hash
/// of the payload it guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `function#sha256(key)`: a record per function and key, as Powertools keys them.
    pub(crate) id: String,
    /// SHA-256 of the payload's JSON, hex.
    pub(crate) payload_hash: String,
}

impl Key {
    /// The key at one or more JSON pointers of the event (`"/order_id"`,
    /// `"/body/customer"`), and the whole event as its payload. The values are taken as
    /// JSON, so `"42"` and `42` are different keys.
    ///
    /// A pointer that finds nothing, or `null`, is [`IdempotencyKeyMissing`]: an event
    /// without its key cannot be told from another one, and is not run.
    pub fn from_pointers<T: Serialize>(
        event: &T,
        pointers: &[&str],
    ) -> Result<Self, IdempotencyKeyMissing> {
        let event = serde_json::to_value(event).map_err(|_| IdempotencyKeyMissing {
            pointer: "(the event does not serialize to JSON)".into(),
        })?;
        let mut parts = Vec::with_capacity(pointers.len());
        for pointer in pointers {
            match event.pointer(pointer) {
                Some(value) if !value.is_null() => parts.push(value.clone()),
                _ => {
                    return Err(IdempotencyKeyMissing {
                        pointer: (*pointer).to_owned(),
                    });
                }
            }
        }
        let key = serde_json::Value::Array(parts).to_string();
        Ok(Self::of(&key, &event.to_string()))
    }

    /// A key you computed — an SQS message's id, a header, a hash of your own — and the
    /// payload it guards.
    pub fn new<T: Serialize + ?Sized>(key: &str, payload: &T) -> Self {
        let payload = serde_json::to_string(payload).unwrap_or_default();
        Self::of(key, &payload)
    }

    fn of(key: &str, payload: &str) -> Self {
        Self {
            id: format!("{}#{}", function_name(), hex_sha256(key.as_bytes())),
            payload_hash: hex_sha256(payload.as_bytes()),
        }
    }

    /// The record's id in the store: `function#sha256(key)`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The function's name as Lambda sets it, or `local` outside Lambda; only the characters
/// Lambda allows in a name (letters, digits, `-`, `_`), so the id needs no quoting. Read
/// once per process: it does not change, and every key of every invocation names it.
fn function_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
        sanitized(&name)
    })
}

fn sanitized(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_key_is_the_value_at_the_pointers_and_the_payload_the_whole_event() {
        let a = json!({"order_id": 7, "total": 10});
        let b = json!({"order_id": 7, "total": 11});
        let c = json!({"order_id": "7", "total": 10});
        let key_a = Key::from_pointers(&a, &["/order_id"]).unwrap();
        let key_b = Key::from_pointers(&b, &["/order_id"]).unwrap();
        let key_c = Key::from_pointers(&c, &["/order_id"]).unwrap();
        // Same key, another payload: the same record, told apart by the payload's hash.
        assert_eq!(key_a.id, key_b.id);
        assert_ne!(key_a.payload_hash, key_b.payload_hash);
        // JSON values: 7 and "7" are different keys.
        assert_ne!(key_a.id, key_c.id);
        // Several pointers: each one's value counts.
        let two = Key::from_pointers(&a, &["/order_id", "/total"]).unwrap();
        let two_b = Key::from_pointers(&b, &["/order_id", "/total"]).unwrap();
        assert_ne!(two.id, two_b.id);
        assert_ne!(two.id, key_a.id);
        // The id is the function's name, `#`, and 64 hex digits.
        let (function, hash) = key_a.id.split_once('#').unwrap();
        assert!(!function.is_empty());
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_missing_or_null_key_is_refused_naming_the_pointer() {
        let event = json!({"order_id": null, "body": {"id": 1}});
        for pointer in ["/order_id", "/nothing", "/body/other"] {
            let error = Key::from_pointers(&event, &["/body/id", pointer]).unwrap_err();
            assert_eq!(error.pointer, pointer);
            assert!(error.to_string().contains(pointer), "{error}");
        }
        assert!(Key::from_pointers(&event, &["/body/id"]).is_ok());
    }

    #[test]
    fn a_key_given_is_hashed_with_its_payload() {
        let one = Key::new("message-1", &json!({"a": 1}));
        let again = Key::new("message-1", &json!({"a": 1}));
        let other = Key::new("message-1", &json!({"a": 2}));
        assert_eq!(one, again);
        assert_eq!(one.id, other.id);
        assert_ne!(one.payload_hash, other.payload_hash);
        assert_ne!(one.id, Key::new("message-2", &json!({"a": 1})).id);
    }

    /// What a user reads back (`Key::id`) is the record's id, under the function's name as
    /// the process has it (`local` outside Lambda, unless the test run set one).
    #[test]
    fn the_id_read_back_is_the_record_s_under_the_function_s_name() {
        let key = Key::new("message-1", "{}");
        assert_eq!(key.id(), key.id);
        let expected = sanitized(
            &std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into()),
        );
        assert_eq!(key.id().split_once('#').unwrap().0, expected);
        assert_eq!(function_name(), expected);
    }

    /// A name keeps the characters Lambda allows (letters, digits, `-`, `_`); anything
    /// else becomes `_` — so the id needs no quoting in a statement — and at most 64 stay.
    #[test]
    fn the_function_s_name_keeps_only_what_lambda_allows() {
        assert_eq!(sanitized("orders-v2_EU"), "orders-v2_EU");
        assert_eq!(sanitized("a'b c;d#e"), "a_b_c_d_e");
        assert_eq!(sanitized(&"x".repeat(80)).len(), 64);
        assert_eq!(sanitized("-"), "-");
        assert_eq!(sanitized("_"), "_");
        assert_eq!(sanitized("é"), "_");
    }

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }
}
