//! Lifecycle events (requests, WebSocket connections, errors) delivered to a
//! hook that bindings subscribe to, and mirrored as `tracing` events.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ErrorKind;

/// Something that happened inside the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A request is about to be sent (before the first attempt).
    RequestStart {
        /// The object's name.
        object: String,
        /// The operation (`initialize`, `call_method`, `get_state`, …).
        operation: &'static str,
        /// The method, for `call_method`.
        method: Option<String>,
    },
    /// A request finished, after all its attempts.
    RequestStop {
        /// The object's name.
        object: String,
        /// The operation.
        operation: &'static str,
        /// The method, for `call_method`.
        method: Option<String>,
        /// Wall time from start to stop, retries included.
        duration: Duration,
        /// How many attempts were made.
        attempts: u32,
        /// `None` on success, else the error's kind.
        error: Option<ErrorKind>,
    },
    /// A WebSocket (re)connected.
    WebSocketConnected {
        /// The object's name.
        object: String,
        /// 0 for the first connection, then 1, 2, … for each reconnect.
        reconnects: u64,
    },
    /// A WebSocket lost its connection (it may reconnect).
    WebSocketDisconnected {
        /// The object's name.
        object: String,
        /// Why.
        reason: String,
        /// Whether the client will try to reconnect.
        will_reconnect: bool,
    },
    /// An operation failed (also reported in its `RequestStop`).
    Error {
        /// The object's name.
        object: String,
        /// The operation.
        operation: &'static str,
        /// The error's kind.
        kind: ErrorKind,
        /// The error's message (never contains the token).
        message: String,
    },
}

/// Receives [`Event`]s. Called on the client's own threads: implementations
/// must return quickly and hand the event to their host's loop.
pub trait EventHook: Send + Sync {
    /// Called once per event.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> EventHook for F {
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

/// The hooks of one client.
#[derive(Clone, Default)]
pub(crate) struct Emitter {
    hook: Option<Arc<dyn EventHook>>,
}

impl Emitter {
    pub(crate) fn new(hook: Option<Arc<dyn EventHook>>) -> Self {
        Emitter { hook }
    }

    /// Whether request start and stop events reach anyone: a hook, or a
    /// `tracing` subscriber at debug level (they are logged there).
    pub(crate) fn wants_request_events(&self) -> bool {
        self.hook.is_some() || tracing::level_enabled!(tracing::Level::DEBUG)
    }

    /// Sends an event to the hook and to `tracing`.
    pub(crate) fn emit(&self, event: Event) {
        match &event {
            Event::RequestStart {
                object,
                operation,
                method,
            } => {
                tracing::debug!(object, operation, method, "request start")
            }
            Event::RequestStop {
                object,
                operation,
                duration,
                attempts,
                error,
                ..
            } => {
                tracing::debug!(
                    object,
                    operation,
                    ?duration,
                    attempts,
                    ?error,
                    "request stop"
                )
            }
            Event::WebSocketConnected { object, reconnects } => {
                tracing::info!(object, reconnects, "websocket connected")
            }
            Event::WebSocketDisconnected {
                object,
                reason,
                will_reconnect,
            } => {
                tracing::info!(object, reason, will_reconnect, "websocket disconnected")
            }
            Event::Error {
                object,
                operation,
                kind,
                message,
            } => {
                tracing::warn!(object, operation, %kind, message, "error")
            }
        }
        if let Some(hook) = &self.hook {
            hook.on_event(&event);
        }
    }
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.hook.is_some() {
            "Emitter(hook)"
        } else {
            "Emitter(none)"
        })
    }
}
