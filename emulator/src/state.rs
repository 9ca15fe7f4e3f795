//! The shared state of one running environment: what the Runtime and Extensions APIs see.
//!
//! Every change bumps a `watch` counter; waiters re-check their condition under the lock,
//! so no wake-up is ever missed and no test needs a fixed sleep.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::outcome::{FunctionError, Outcome, to_epoch_ms};

/// The client connection a request came on, to tell whether it is still there.
#[derive(Clone, Default)]
pub(crate) struct Peer(Option<Arc<std::net::TcpStream>>);

impl Peer {
    /// A second handle on the connection's socket (the server keeps the first).
    pub(crate) fn of(stream: &tokio::net::TcpStream) -> Self {
        use std::os::fd::AsFd;
        Self(
            stream
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(|fd| Arc::new(std::net::TcpStream::from(fd))),
        )
    }

    /// The client closed the connection (or it broke). A long poll sends nothing while it
    /// waits, so anything but "no data yet" means it is gone. The socket is non-blocking
    /// (tokio's), and `peek` leaves what it sees for the server to read.
    pub(crate) fn is_gone(&self) -> bool {
        let Some(socket) = &self.0 else {
            return false;
        };
        let mut byte = [0u8; 1];
        match socket.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

/// An invocation waiting to be handed to the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    pub(crate) request_id: String,
    pub(crate) deadline: SystemTime,
    pub(crate) body: Bytes,
    pub(crate) function_arn: String,
    /// The X-Ray trace header, in Lambda's format: one per invocation, for the runtime and
    /// for the extensions' INVOKE event alike.
    pub(crate) trace_id: String,
    /// Headers to send instead of (`Some`) or to leave out of (`None`) the usual ones.
    pub(crate) headers: Vec<(
        hyper::header::HeaderName,
        Option<hyper::header::HeaderValue>,
    )>,
}

/// What the emulator knows about one invocation of this environment.
#[derive(Debug, Default)]
pub(crate) struct Track {
    pub(crate) handed_out_at: Option<SystemTime>,
    pub(crate) responded_at: Option<SystemTime>,
    pub(crate) outcome: Option<Outcome>,
    /// The `lambda-runtime-invocation-id` the answer carried back.
    pub(crate) answered_with_invocation_id: Option<String>,
    pub(crate) runtime_returned: bool,
    /// Extensions that got this INVOKE and have not yet come back to `event/next`.
    pub(crate) extensions_busy: Vec<String>,
    pub(crate) completed_at: Option<SystemTime>,
}

impl Track {
    fn check_complete(&mut self) {
        if self.completed_at.is_none()
            && self.responded_at.is_some()
            && self.runtime_returned
            && self.extensions_busy.is_empty()
        {
            self.completed_at = Some(SystemTime::now());
        }
    }
}

pub(crate) struct Extension {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) wants_invoke: bool,
    pub(crate) wants_shutdown: bool,
    pub(crate) called_next: bool,
    waiter: Option<oneshot::Sender<serde_json::Value>>,
    queued: VecDeque<serde_json::Value>,
    /// Invocations delivered to this extension since its last `event/next`.
    delivered: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Inner {
    runtime_waiters: VecDeque<(oneshot::Sender<Dispatch>, Peer)>,
    pending: VecDeque<Dispatch>,
    pub(crate) tracks: HashMap<String, Track>,
    /// Responded invocations whose runtime loop has not yet asked for the next event.
    awaiting_return: VecDeque<String>,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) first_next_at: Option<SystemTime>,
    pub(crate) init_error: Option<FunctionError>,
    pub(crate) next_calls: u64,
    /// Until when `GET next` fails, and with which status (a stalling Runtime API).
    pub(crate) failing_polls: Option<(std::time::Instant, u16)>,
    /// How many `GET next` were answered with that failure.
    pub(crate) failed_polls: u64,
}

impl Inner {
    /// Gives `dispatch` to the first poller still there; returns it if none is. A poller
    /// whose connection went away (closed, or its request dropped) is skipped, so that an
    /// event is never handed to a client that is gone.
    fn hand_to_a_poller(&mut self, mut dispatch: Dispatch) -> Option<Dispatch> {
        while let Some((waiter, peer)) = self.runtime_waiters.pop_front() {
            if peer.is_gone() {
                continue;
            }
            match waiter.send(dispatch) {
                Ok(()) => return None,
                Err(back) => dispatch = back,
            }
        }
        Some(dispatch)
    }

    /// Lambda's init is over when the runtime and every registered extension wait in `next`.
    pub(crate) fn init_done(&self) -> bool {
        self.first_next_at.is_some() && self.extensions.iter().all(|e| e.called_next)
    }
}

/// State shared between the HTTP server and the [`crate::Environment`] driving it.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    version: watch::Sender<u64>,
    pub(crate) function_name: String,
    pub(crate) function_version: String,
}

impl Shared {
    pub(crate) fn new(function_name: String) -> Self {
        Self {
            inner: Mutex::default(),
            version: watch::Sender::new(0),
            function_name,
            function_version: "$LATEST".into(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribe *before* checking a condition, then await `changed()`.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub(crate) fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Hands an invocation to a waiting runtime poller, or queues it for the next one.
    /// Extensions subscribed to INVOKE get their event now (or on their first `next`:
    /// an event is never lost because an extension was not yet waiting).
    pub(crate) fn dispatch(&self, dispatch: Dispatch) {
        let mut inner = self.lock();
        let mut track = Track::default();
        let invoke_event = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": to_epoch_ms(dispatch.deadline),
            "requestId": dispatch.request_id,
            "invokedFunctionArn": dispatch.function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": dispatch.trace_id},
        });
        for ext in inner.extensions.iter_mut().filter(|e| e.wants_invoke) {
            ext.delivered.push(dispatch.request_id.clone());
            track.extensions_busy.push(ext.id.clone());
            ext.send(invoke_event.clone());
        }
        inner.tracks.insert(dispatch.request_id.clone(), track);
        if let Some(dispatch) = inner.hand_to_a_poller(dispatch) {
            inner.pending.push_back(dispatch);
        }
        drop(inner);
        self.bump();
    }

    /// `GET /runtime/invocation/next`: the runtime is back (its previous invocation, if
    /// any, is done on its side) and wants work.
    pub(crate) fn runtime_next(&self, peer: Peer) -> oneshot::Receiver<Dispatch> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        inner.next_calls += 1;
        inner.first_next_at.get_or_insert_with(SystemTime::now);
        if let Some(id) = inner.awaiting_return.pop_front()
            && let Some(track) = inner.tracks.get_mut(&id)
        {
            track.runtime_returned = true;
            track.check_complete();
        }
        match inner.pending.pop_front() {
            Some(dispatch) => {
                let _ = tx.send(dispatch);
            }
            None => inner.runtime_waiters.push_back((tx, peer)),
        }
        drop(inner);
        self.bump();
        rx
    }

    /// The status `GET next` fails with now, if it does; counts the failure.
    pub(crate) fn failing_poll(&self) -> Option<u16> {
        let mut inner = self.lock();
        match inner.failing_polls {
            Some((until, code)) if std::time::Instant::now() < until => {
                inner.failed_polls += 1;
                Some(code)
            }
            Some(_) => {
                inner.failing_polls = None;
                None
            }
            None => None,
        }
    }

    /// An event that was given to a poller who went away before it could be sent: it goes
    /// to the next poller, as if it had never been handed out.
    pub(crate) fn hand_back(&self, dispatch: Dispatch) {
        let mut inner = self.lock();
        if let Some(track) = inner.tracks.get_mut(&dispatch.request_id) {
            track.handed_out_at = None;
        }
        // First in line again: it was due before anything queued since.
        if let Some(dispatch) = inner.hand_to_a_poller(dispatch) {
            inner.pending.push_front(dispatch);
        }
        drop(inner);
        self.bump();
    }

    pub(crate) fn handed_out(&self, request_id: &str) {
        if let Some(track) = self.lock().tracks.get_mut(request_id) {
            track.handed_out_at = Some(SystemTime::now());
        }
        self.bump();
    }

    /// `POST /invocation/{id}/response|error`. False if the id is unknown or already answered.
    pub(crate) fn respond(
        &self,
        request_id: &str,
        invocation_id: Option<String>,
        outcome: Outcome,
    ) -> bool {
        let mut inner = self.lock();
        let Some(track) = inner.tracks.get_mut(request_id) else {
            return false;
        };
        if track.outcome.is_some() {
            return false;
        }
        track.outcome = Some(outcome);
        track.answered_with_invocation_id = invocation_id;
        track.responded_at = Some(SystemTime::now());
        inner.awaiting_return.push_back(request_id.to_string());
        drop(inner);
        self.bump();
        true
    }

    pub(crate) fn init_error(&self, error: FunctionError) {
        self.lock().init_error = Some(error);
        self.bump();
    }

    /// `POST /extension/register`. Refused once init is over, as Lambda does.
    pub(crate) fn register_extension(&self, name: &str, events: &[String]) -> Option<String> {
        let mut inner = self.lock();
        if inner.init_done() {
            return None;
        }
        let id = format!("ext-{}-{}", inner.extensions.len() + 1, name);
        inner.extensions.push(Extension {
            id: id.clone(),
            name: name.to_string(),
            wants_invoke: events.iter().any(|e| e == "INVOKE"),
            wants_shutdown: events.iter().any(|e| e == "SHUTDOWN"),
            called_next: false,
            waiter: None,
            queued: VecDeque::new(),
            delivered: Vec::new(),
        });
        drop(inner);
        self.bump();
        Some(id)
    }

    /// `GET /extension/event/next`: the extension is done with what it was given.
    pub(crate) fn extension_next(&self, id: &str) -> Option<oneshot::Receiver<serde_json::Value>> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let ext = inner.extensions.iter_mut().find(|e| e.id == id)?;
        ext.called_next = true;
        for request_id in ext.delivered.drain(..) {
            if let Some(track) = inner.tracks.get_mut(&request_id) {
                track.extensions_busy.retain(|e| e != id);
                track.check_complete();
            }
        }
        match ext.queued.pop_front() {
            Some(event) => {
                let _ = tx.send(event);
            }
            None => ext.waiter = Some(tx),
        }
        self.bump();
        Some(rx)
    }

    /// Sends SHUTDOWN to every extension that asked for it; returns how many.
    pub(crate) fn shutdown_extensions(&self, reason: &str, deadline: SystemTime) -> usize {
        let event = serde_json::json!({
            "eventType": "SHUTDOWN",
            "shutdownReason": reason,
            "deadlineMs": to_epoch_ms(deadline),
        });
        let mut inner = self.lock();
        let mut sent = 0;
        for ext in inner.extensions.iter_mut().filter(|e| e.wants_shutdown) {
            ext.send(event.clone());
            sent += 1;
        }
        drop(inner);
        self.bump();
        sent
    }
}

impl Extension {
    fn send(&mut self, event: serde_json::Value) {
        let event = match self.waiter.take() {
            Some(waiter) => match waiter.send(event) {
                Ok(()) => return,
                Err(back) => back,
            },
            None => event,
        };
        self.queued.push_back(event);
    }
}
