//! A record found under a key, and what it means for this delivery: run it, answer with
//! the first delivery's response, or refuse.

/// The record's two states: claimed by a delivery being handled (around mode commits
/// this; transactional mode never does), or done with its response stored.
pub(crate) const IN_PROGRESS: &str = "INPROGRESS";
pub(crate) const COMPLETE: &str = "COMPLETE";

/// A record as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    pub(crate) status: String,
    pub(crate) payload_hash: String,
    pub(crate) response: Option<String>,
    /// When the claim ends, ms since the epoch: the claiming invocation's deadline.
    pub(crate) in_progress_until: i64,
    /// When the record stops counting, ms since the epoch.
    pub(crate) expires_at: i64,
}

/// What a delivery does about a record already under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The first delivery completed: answer with its response; the handler does not run.
    Replay(String),
    /// Another delivery holds a live claim.
    InProgress,
    /// The key was first used with another payload.
    PayloadMismatch,
    /// The record expired, or its claim ended with nobody completing it: claim it anew.
    TakeOver,
}

impl Existing {
    /// What a delivery with `payload_hash` does at `now_ms`.
    pub(crate) fn decide(&self, payload_hash: &str, now_ms: i64) -> Decision {
        if self.expires_at <= now_ms {
            return Decision::TakeOver;
        }
        if self.status == COMPLETE {
            if self.payload_hash != payload_hash {
                return Decision::PayloadMismatch;
            }
            return match &self.response {
                Some(response) => Decision::Replay(response.clone()),
                // Not written by lambda-thaw: a complete record always has its response.
                None => Decision::TakeOver,
            };
        }
        if self.in_progress_until > now_ms {
            Decision::InProgress
        } else {
            Decision::TakeOver
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: &str, hash: &str, until: i64, expires: i64) -> Existing {
        Existing {
            status: status.into(),
            payload_hash: hash.into(),
            response: Some("{\"ok\":true}".into()),
            in_progress_until: until,
            expires_at: expires,
        }
    }

    #[test]
    fn each_record_decides_as_its_table_says() {
        let now = 1_000;
        // (status, payload hash, claim's end, expiry) → decision for payload "p"
        let cases = [
            (
                COMPLETE,
                "p",
                0,
                2_000,
                Decision::Replay("{\"ok\":true}".into()),
            ),
            (COMPLETE, "q", 0, 2_000, Decision::PayloadMismatch),
            // Expired: whatever it holds, it counts no more.
            (COMPLETE, "q", 0, 1_000, Decision::TakeOver),
            (COMPLETE, "p", 0, 999, Decision::TakeOver),
            (IN_PROGRESS, "p", 1_001, 2_000, Decision::InProgress),
            // In progress with another payload: still in progress (the mismatch shows once
            // it completes).
            (IN_PROGRESS, "q", 1_001, 2_000, Decision::InProgress),
            // The claim ended at its deadline, nobody completed it: the claimant died.
            (IN_PROGRESS, "p", 1_000, 2_000, Decision::TakeOver),
            (IN_PROGRESS, "p", 500, 2_000, Decision::TakeOver),
        ];
        for (status, hash, until, expires, expected) in cases {
            assert_eq!(
                record(status, hash, until, expires).decide("p", now),
                expected,
                "{status} {hash} until {until} expires {expires}"
            );
        }
        let mut without_response = record(COMPLETE, "p", 0, 2_000);
        without_response.response = None;
        assert_eq!(without_response.decide("p", now), Decision::TakeOver);
    }
}
