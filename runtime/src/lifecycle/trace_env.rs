//! `_X_AMZN_TRACE_ID`, the environment variable through which the AWS SDKs learn the
//! current invocation's X-Ray trace id.
//!
//! `lambda_runtime` sets it with `std::env::set_var` on every invocation. glibc's `setenv`
//! copies each new value and never frees the one it replaces (another thread may still
//! hold a pointer to it), so a warm environment grows by the size of a trace id on every
//! invocation, for as long as it lives. Here the variable points into one of two buffers
//! that live as long as the process, set with `putenv` (which stores the pointer it is
//! given, not a copy): each invocation writes the buffer the variable does *not* point at,
//! then points the variable at it. Memory stays flat; a reader that fetched the previous
//! value reads intact bytes until the invocation after next.
//!
//! Only with one invocation at a time, as `lambda_runtime` does: with concurrent
//! invocations a process-wide variable cannot be right for all of them, so it is not set
//! (use `Context::xray_trace_id`).
//!
//! A value longer than the buffers hold grows both to the next power of two (the old ones
//! stay allocated: a reader may still hold a pointer into them). Lambda caps its headers,
//! so the buffers grow a few times at most, and memory stays flat for any trace id.

use std::ffi::CStr;
use std::sync::Mutex;

const NAME: &str = "_X_AMZN_TRACE_ID";
/// The first room for `_X_AMZN_TRACE_ID=`, the value and its NUL; Lambda's trace ids
/// (with `Parent`, `Sampled` and `Lineage`) are around 100 bytes.
const CAPACITY: usize = 512;

struct Buffers {
    /// Both of the same length; never freed.
    slots: [&'static mut [u8]; 2],
    /// The slot the variable points at (`None` before the first `set`).
    active: Option<usize>,
}

static BUFFERS: Mutex<Option<Buffers>> = Mutex::new(None);

/// Creates the variable while the process is still single-threaded, so that later
/// `putenv`s replace its entry in place and never grow (reallocate) `environ` under a
/// reader on another thread.
#[allow(unsafe_code)] // `set_var` before any other thread exists: see the SAFETY comment
pub(crate) fn prepare() {
    if std::env::var_os(NAME).is_none() {
        // SAFETY: called from `start` before the tokio runtime (or any other thread of
        // ours) exists; nothing else reads or writes the environment concurrently.
        unsafe { std::env::set_var(NAME, "") };
    }
}

/// Points `_X_AMZN_TRACE_ID` at this invocation's trace id (empty without one).
#[allow(unsafe_code)] // `putenv` with a buffer that outlives the process: see the SAFETY comment
pub(crate) fn set(trace_id: Option<&str>) {
    let value = trace_id.unwrap_or_default();
    let len = NAME.len() + 1 + value.len() + 1;
    if value.as_bytes().contains(&0) {
        tracing::warn!("the trace id holds a NUL byte; _X_AMZN_TRACE_ID left as it was");
        return;
    }
    let mut guard = BUFFERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let buffers = guard.get_or_insert_with(|| Buffers {
        slots: [leaked(CAPACITY), leaked(CAPACITY)],
        active: None,
    });
    if len > buffers.slots[0].len() {
        // Both grow: the one the variable points at stays where it is, untouched.
        let room = len.next_power_of_two();
        buffers.slots = [leaked(room), leaked(room)];
        buffers.active = None;
    }
    let next = buffers.active.map_or(0, |active| 1 - active);
    let slot = &mut buffers.slots[next];
    slot[..NAME.len()].copy_from_slice(NAME.as_bytes());
    slot[NAME.len()] = b'=';
    slot[NAME.len() + 1..len - 1].copy_from_slice(value.as_bytes());
    slot[len - 1] = 0;
    let entry = CStr::from_bytes_until_nul(slot).expect("NUL-terminated above");
    // SAFETY: `entry` is NUL-terminated and lives for the rest of the process (leaked),
    // as `putenv` requires; the variable exists already (`prepare`), so glibc replaces
    // the pointer in its entry without reallocating `environ`. The slot written is not
    // the one the variable pointed at.
    let failed = unsafe { libc::putenv(entry.as_ptr().cast_mut()) } != 0;
    if failed {
        tracing::warn!("cannot set _X_AMZN_TRACE_ID");
        return;
    }
    buffers.active = Some(next);
}

/// A zeroed buffer that lives as long as the process.
fn leaked(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_follows_each_invocation() {
        prepare();
        for id in [
            "Root=1-a;Sampled=1",
            "Root=1-bb;Parent=cc;Sampled=0",
            "",
            "Root=1-d",
        ] {
            set(Some(id));
            assert_eq!(std::env::var(NAME).unwrap(), id);
        }
        set(None);
        assert_eq!(std::env::var(NAME).unwrap(), "");
        // Each value goes to the buffer the variable does not point at: a reader holding
        // the previous value keeps intact bytes.
        let active = || BUFFERS.lock().unwrap().as_ref().unwrap().active;
        let before = active().expect("set");
        set(Some("Root=1-alternate"));
        assert_eq!(active(), Some(1 - before));
        set(Some("Root=1-back"));
        assert_eq!(active(), Some(before));
        let long = "x".repeat(CAPACITY);
        set(Some(&long));
        assert_eq!(std::env::var(NAME).unwrap(), long);
        set(Some("Root=1-e"));
        assert_eq!(std::env::var(NAME).unwrap(), "Root=1-e");
        // A 4 KiB trace id grows the buffers once; later ones of any length up to it reuse them.
        let huge = "y".repeat(4096);
        set(Some(&huge));
        let room = BUFFERS.lock().unwrap().as_ref().unwrap().slots[0].len();
        assert!(room > 4096, "{room}");
        for id in [huge.as_str(), "Root=1-f", &huge[..3000]] {
            set(Some(id));
            assert_eq!(std::env::var(NAME).unwrap(), id);
            assert_eq!(
                BUFFERS.lock().unwrap().as_ref().unwrap().slots[0].len(),
                room
            );
        }
        set(Some("bad\0id"));
        assert_eq!(std::env::var(NAME).unwrap(), &huge[..3000]);
    }
}
