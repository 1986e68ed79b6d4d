//! A live WebSocket to one object: send, call, receive every message as a
//! stream, watch the status, close. Reconnection, heartbeats, resume and the
//! send queue live in the connection task ([`actor`]).

mod actor;
mod handshake;
mod link;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::client::CallOptions;
use crate::error::{Error, InputField, Result};
use crate::idempotency;
use crate::object_ref::ObjectRoute;
use crate::transport::Transport;
use crate::validate;

/// Where a WebSocket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    /// The first connection is being made.
    Connecting,
    /// Connected: sends go out at once.
    Connected,
    /// The link dropped; sends wait in the queue until it is back.
    Reconnecting,
    /// Closed for good (by [`WebSocket::close`], by drop, or by a refusal).
    Closed,
}

impl ConnectionStatus {
    /// A stable snake_case name, the same in every language.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Reconnecting => "reconnecting",
            ConnectionStatus::Closed => "closed",
        }
    }
}

/// A WebSocket to one object. Dropping it closes the connection.
#[derive(Debug)]
pub struct WebSocket {
    object: String,
    shared: Arc<link::Shared>,
    status: watch::Receiver<ConnectionStatus>,
    closing: watch::Sender<bool>,
    messages: tokio::sync::Mutex<mpsc::Receiver<Value>>,
    final_error: Arc<Mutex<Option<Error>>>,
    final_error_reported: std::sync::atomic::AtomicBool,
    next_call_id: std::sync::atomic::AtomicU64,
    call_timeout: Duration,
}

impl WebSocket {
    pub(crate) async fn connect(
        transport: Arc<Transport>,
        object: String,
        route: ObjectRoute,
    ) -> Result<Self> {
        let config = transport.config().clone();
        let shared = Arc::new(link::Shared::new(
            config.send_queue_capacity,
            config.timeout,
        ));
        let (inbox_tx, inbox_rx) = mpsc::channel(config.message_buffer);
        let (status_tx, status_rx) = watch::channel(ConnectionStatus::Connecting);
        let (closing_tx, closing_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let final_error = Arc::new(Mutex::new(None));
        let ends = actor::TaskEnds {
            shared: shared.clone(),
            inbox: inbox_tx,
            status: status_tx,
            closing: closing_rx,
            final_error: final_error.clone(),
        };
        let task = actor::Actor::new(transport, object.clone(), route, ends);
        tokio::spawn(task.run(ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(WebSocket {
                object,
                shared,
                status: status_rx,
                closing: closing_tx,
                messages: tokio::sync::Mutex::new(inbox_rx),
                final_error,
                final_error_reported: std::sync::atomic::AtomicBool::new(false),
                next_call_id: std::sync::atomic::AtomicU64::new(1),
                call_timeout: config.timeout,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::ConnectionClosed {
                code: None,
                reason: "connection task ended before connecting".into(),
            }),
        }
    }

    /// The object this socket talks to.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// The current status.
    pub fn status(&self) -> ConnectionStatus {
        *self.status.borrow()
    }

    /// Waits until the status satisfies `pred`, at most `limit`; returns the
    /// status reached, or `None` on timeout.
    pub async fn wait_for_status(
        &self,
        limit: Duration,
        pred: impl Fn(ConnectionStatus) -> bool,
    ) -> Option<ConnectionStatus> {
        let mut rx = self.status.clone();
        let wait = async {
            loop {
                let now = *rx.borrow_and_update();
                if pred(now) {
                    return Some(now);
                }
                if rx.changed().await.is_err() {
                    let last = *rx.borrow();
                    return pred(last).then_some(last);
                }
            }
        };
        tokio::time::timeout(limit, wait).await.ok().flatten()
    }

    /// Sends a JSON message. Returns once it is written to the socket, or
    /// queued while reconnecting; [`Error::QueueFull`] when the queue is full.
    pub async fn send(&self, message: &Value) -> Result<()> {
        let text = encode_frame(message, InputField::Value)?;
        self.shared.send(text.into()).await
    }

    /// Calls a method over the socket and waits for its result, within the
    /// client's `timeout`. The call is resent after a reconnect with the same
    /// idempotency key, so it runs once.
    pub async fn call(&self, method: &str, params: &Value) -> Result<Value> {
        self.call_with(method, params, CallOptions::default()).await
    }

    /// [`call`](Self::call) with per-call options.
    pub async fn call_with(
        &self,
        method: &str,
        params: &Value,
        options: CallOptions,
    ) -> Result<Value> {
        let method = validate::method_name(method)?;
        let key = match options.idempotency_key {
            Some(key) => idempotency::check(key)?,
            None => idempotency::generate(),
        };
        let id = self
            .next_call_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let frame = MethodFrame {
            kind: "method",
            id: &id,
            method,
            params,
            idempotency_key: &key,
        };
        let text = encode_frame(&frame, InputField::Params)?;
        let limit = options.timeout.unwrap_or(self.call_timeout);
        // The write is inside the limit too: a stuck socket cannot hold a
        // caller past it.
        let call = async {
            let response = self.shared.start_call(id.clone(), text.into()).await?;
            response.await.unwrap_or_else(|_| Err(self.closed_error()))
        };
        match tokio::time::timeout(limit, call).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.shared.forget_call(&id);
                Err(Error::Timeout(format!(
                    "no response to {method:?} within {} ms",
                    limit.as_millis()
                )))
            }
        }
    }

    /// The next message from the object: `Ok(Some(_))` for a message,
    /// `Ok(None)` once the socket is closed, or the error that ended it
    /// (returned once, then `Ok(None)`). Call from one consumer at a time.
    pub async fn next_message(&self) -> Result<Option<Value>> {
        let mut messages = self.messages.lock().await;
        match messages.recv().await {
            Some(message) => Ok(Some(message)),
            None => self.final_error_once().map_or(Ok(None), Err),
        }
    }

    /// Like [`next_message`](Self::next_message), but takes every message
    /// already waiting (at least one, at most `max`) in one call, so a host
    /// can hand a burst to its loop at once.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Value>> {
        let mut messages = self.messages.lock().await;
        let mut batch = Vec::new();
        if messages.recv_many(&mut batch, max.max(1)).await == 0 {
            return self.final_error_once().map_or(Ok(batch), Err);
        }
        Ok(batch)
    }

    /// Starts closing the socket (code 1000) and returns at once: the
    /// connection task closes it whether or not anyone waits. Idempotent. A
    /// binding calls it before it awaits [`close`](Self::close), so that a
    /// close whose wait is cancelled before its first poll still happens.
    pub fn start_close(&self) {
        self.closing.send_replace(true);
    }

    /// Closes the socket (code 1000) and waits for the connection task to
    /// end. Pending calls fail with [`Error::ConnectionClosed`]. Idempotent.
    pub async fn close(&self) {
        self.start_close();
        let _ = self
            .wait_for_status(Duration::MAX, |s| s == ConnectionStatus::Closed)
            .await;
    }

    /// The error that ended the socket, the first time it is asked for.
    fn final_error_once(&self) -> Option<Error> {
        if self
            .final_error_reported
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return None;
        }
        self.final_error.lock().ok().and_then(|e| e.clone())
    }

    fn closed_error(&self) -> Error {
        match self.final_error.lock() {
            Ok(guard) => guard.clone(),
            Err(_) => None,
        }
        .unwrap_or_else(|| Error::ConnectionClosed {
            code: None,
            reason: "the socket is closed".into(),
        })
    }
}

/// A method call as the protocol frames it, borrowing the caller's
/// parameters (no copy of them is made to encode it).
#[derive(serde::Serialize)]
struct MethodFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    method: &'a str,
    params: &'a Value,
    idempotency_key: &'a str,
}

/// One text frame's JSON, within the protocol's size limit.
fn encode_frame(frame: &impl serde::Serialize, field: InputField) -> Result<String> {
    let bytes = validate::body(frame, field, validate::MAX_BODY_BYTES)?;
    String::from_utf8(bytes).map_err(|e| Error::invalid(field, e.to_string()))
}
