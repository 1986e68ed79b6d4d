//! The core's lifecycle events, pulled by the host ([`FfiClient::next_events`]).
//!
//! The core calls the hook on its own threads; the hook only pushes into a
//! bounded queue (never blocks, never calls the host). Events are queued only
//! once a host has started pulling, and when the queue is full the newest are
//! dropped and counted, so an idle subscriber cannot grow memory.
//!
//! [`FfiClient::next_events`]: crate::FfiClient::next_events

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cloudflare_durable as cfd;
use tokio::sync::{mpsc, watch, Mutex};

use crate::millis;

/// Events held for a host that is not pulling fast enough.
const EVENT_QUEUE: usize = 1024;

/// Something that happened inside the client (the core's `Event`).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ClientEvent {
    /// A request is about to be sent (before the first attempt).
    RequestStart {
        /// The object's label (name, `id:<hex>`, or `namespace/…`).
        object_name: String,
        /// The operation (`initialize`, `call_method`, `get_state`, …).
        operation: String,
        /// The method, for `call_method`.
        method: Option<String>,
    },
    /// A request finished, after all its attempts.
    RequestStop {
        /// The object's label.
        object_name: String,
        /// The operation.
        operation: String,
        /// The method, for `call_method`.
        method: Option<String>,
        /// Wall time from start to stop in milliseconds, retries included.
        duration_ms: u64,
        /// How many attempts were made.
        attempts: u32,
        /// `None` on success, else the error's kind name (`not_found`, …).
        error_kind: Option<String>,
    },
    /// A WebSocket (re)connected.
    WebSocketConnected {
        /// The object's label.
        object_name: String,
        /// 0 for the first connection, then 1, 2, … for each reconnect.
        reconnects: u64,
    },
    /// A WebSocket lost its connection (it may reconnect).
    WebSocketDisconnected {
        /// The object's label.
        object_name: String,
        /// Why.
        reason: String,
        /// Whether the client will try to reconnect.
        will_reconnect: bool,
    },
    /// An operation failed (also reported in its `RequestStop`).
    Error {
        /// The object's label.
        object_name: String,
        /// The operation.
        operation: String,
        /// The error's kind name.
        kind: String,
        /// The error's message (never contains the token).
        message: String,
    },
}

impl From<&cfd::Event> for ClientEvent {
    fn from(event: &cfd::Event) -> Self {
        match event {
            cfd::Event::RequestStart {
                object,
                operation,
                method,
            } => ClientEvent::RequestStart {
                object_name: object.clone(),
                operation: (*operation).to_owned(),
                method: method.clone(),
            },
            cfd::Event::RequestStop {
                object,
                operation,
                method,
                duration,
                attempts,
                error,
            } => ClientEvent::RequestStop {
                object_name: object.clone(),
                operation: (*operation).to_owned(),
                method: method.clone(),
                duration_ms: millis(*duration),
                attempts: *attempts,
                error_kind: error.map(|k| k.as_str().to_owned()),
            },
            cfd::Event::WebSocketConnected { object, reconnects } => {
                ClientEvent::WebSocketConnected {
                    object_name: object.clone(),
                    reconnects: *reconnects,
                }
            }
            cfd::Event::WebSocketDisconnected {
                object,
                reason,
                will_reconnect,
            } => ClientEvent::WebSocketDisconnected {
                object_name: object.clone(),
                reason: reason.clone(),
                will_reconnect: *will_reconnect,
            },
            cfd::Event::Error {
                object,
                operation,
                kind,
                message,
            } => ClientEvent::Error {
                object_name: object.clone(),
                operation: (*operation).to_owned(),
                kind: kind.as_str().to_owned(),
                message: message.clone(),
            },
        }
    }
}

/// The bounded queue between the core's hook and the host's pulls.
pub(crate) struct EventQueue {
    subscribed: AtomicBool,
    dropped: AtomicU64,
    tx: mpsc::Sender<ClientEvent>,
    rx: Mutex<mpsc::Receiver<ClientEvent>>,
    closed: watch::Sender<bool>,
}

impl EventQueue {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        EventQueue {
            subscribed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            tx,
            rx: Mutex::new(rx),
            closed: watch::Sender::new(false),
        }
    }

    /// Every event already queued (at least one, at most `max`); waits for
    /// the first. Empty once the client is closed. Cancel-safe. Starts the
    /// queueing on first use.
    pub(crate) async fn next(&self, max: usize) -> Vec<ClientEvent> {
        self.subscribed.store(true, Ordering::Release);
        let mut closed = self.closed.subscribe();
        let mut rx = self.rx.lock().await;
        let mut batch = Vec::new();
        tokio::select! {
            biased;
            _ = rx.recv_many(&mut batch, max.max(1)) => {}
            _ = closed.wait_for(|c| *c) => {}
        }
        batch
    }

    /// Ends every pull (now and later) with an empty batch.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Events dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl cfd::EventHook for EventQueue {
    fn on_event(&self, event: &cfd::Event) {
        if !self.subscribed.load(Ordering::Acquire) {
            return;
        }
        if self.tx.try_send(event.into()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
